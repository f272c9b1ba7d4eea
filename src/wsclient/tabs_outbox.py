"""The durable outbox with several tabs: whose stored entries a tab may take over.

Theory of operation
-------------------
Each tab's core makes delivery ids ``<tab id>-<n>`` (``core.Session(id_prefix=tab id)``), and the
durable outbox (``durable.py``) stores one key per id, so every stored entry names the tab that
queued it. Each tab holds the Web Lock ``wsclient:<server URL>:tab:<tab id>`` for as long as it
lives (``static/tabs.js``); asking for another tab's lock with ``ifAvailable`` is granted exactly
when that tab is gone, and the asker then *keeps* it.

`Adoption` decides from what storage holds and what the locks answered:

- ``to_probe(ids)``: the tabs whose liveness to ask about (the owners of stored entries that this
  tab neither holds nor is asking about already);
- ``answered(tab, granted)``: a granted lock means the tab is gone and its entries are now this
  tab's (it holds that lock until it goes itself, so no live tab ever adopts them too; when it
  goes, the next tab to ask adopts them with its own);
- ``mine(entries)``: the entries this tab may send: its own and those of the tabs it adopted.

So two live tabs never send one entry twice, and a closed tab's entries are delivered by the
first tab to ask, at once (on load, and whenever a tab is heard leaving).
"""

from __future__ import annotations

from collections.abc import Iterable

from .outbound import Outbound


def tab_lock_name(url: str, tab_id: str) -> str:
    """The liveness lock of one tab."""
    return f"wsclient:{url}:tab:{tab_id}"


def owner(entry_id: str) -> str:
    """The tab that queued the entry ``entry_id`` (``<tab id>-<n>``)."""
    return entry_id.rpartition("-")[0]


class Adoption:
    """Which tabs' stored entries ``tab_id`` owns (see the module docstring)."""

    def __init__(self, tab_id: str) -> None:
        self.tab_id = tab_id
        self.held: set[str] = {tab_id}  # tabs whose liveness lock this tab holds
        self._asking: set[str] = set()

    def to_probe(self, ids: Iterable[str]) -> list[str]:
        """The owners of ``ids`` to ask about, each once until answered, in first-seen order."""
        found: list[str] = []
        for id_ in ids:
            tab = owner(id_)
            if tab and tab not in self.held and tab not in self._asking:
                self._asking.add(tab)
                found.append(tab)
        return found

    def answered(self, tab: str, granted: bool) -> bool:
        """The lock of ``tab`` was granted (it is gone: its entries are adopted) or not (it is
        alive: its entries stay its own). Returns ``granted``."""
        self._asking.discard(tab)
        if granted:
            self.held.add(tab)
        return granted

    def mine(self, entries: Iterable[Outbound]) -> list[Outbound]:
        """The entries this tab owns, in their order."""
        return [entry for entry in entries if owner(entry.id) in self.held]
