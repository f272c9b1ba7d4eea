"""Sharing one connection between the tabs of a browser: a tab's role, and the virtual link that
stands in for its socket (docs/protocol.md, "Sharing one connection between the tabs").

Theory of operation
-------------------
Every tab runs its own ``core.Session`` and ``driver.Driver`` exactly as if it were alone; only
its port differs. `TabPort` is that port: its "socket" is a *virtual link* to the leader tab,
whose `tabs_hub.Hub` owns the one real connection. A follower's link is the ``BroadcastChannel``
named after the Web Lock; the leader's own tab reaches its hub directly. So ordering, dedup by
offset, bounds, acks and recovery are the core's, never written twice.

`Roles` is the tab's role as a table (h11 style). Its inputs are the lock being granted, a leader
being announced or leaving, and the tab starting or stopping; its outputs are actions that
`SharedTab` carries out on the platform (``static/tabs.js``: Web Locks, the channel and the term
in ``localStorage``) and on the tab's driver:

==========  ==================================================================================
alone       sharing is off or unsupported: the tab's port opens real sockets (a pass-through)
candidate   asked for the Web Lock ``wsclient:<server URL>``; no leader known yet
leader      holds the lock; its term is the stored term + 1; owns the real socket (see below)
follower    another tab holds the lock; its link goes over the channel (it still waits in the
            lock's queue, so it leads when the leader's tab is gone)
stopped     not started, or stepped out (``disconnect()``, closing, ``freeze``, ``pagehide``
            persisted): holds no lock and serves nobody
==========  ==================================================================================

**A leader alone uses the real socket directly.** A leader that knows of no other tab (the
usual lone tab) lets its own core open the real socket: `TabPort` passes sockets through, as
for a tab alone, and the tab's driver is given the token provider. So a lone tab costs what a
tab alone costs: one core, one parse per frame, no extra round trip. The first sign of another
tab switches it to the hub for good; it stays there when the other tabs leave (tabs come and
go: a reload is a leave and a join):

======  ======================  ============================================================
mode    the real socket         left when
======  ======================  ============================================================
direct  the tab's own core's    another tab posts ``who`` or ``open``: the socket closes with
        (its driver calls the   1000 "sharing with another tab", the driver loses the
        token provider)         provider, the hub and its wire core start, and the tab's
                                core relinks to the hub at once (no backoff); v2 resends
                                unacked ids and resubscribes from its offsets
hub     the hub's wire core's   the tab stops leading
======  ======================  ============================================================

A tab that takes the lead from a leader that served other tabs besides it starts in ``hub``
(the others are about to ask for links); any other new leader starts ``direct``.

**Term fencing.** Everything the leader posts carries its term; a follower takes only messages
of the term of the leader it follows, and a new leader's announcement only with a higher term
(a repeated or older one is ignored). What a tab posts carries its tab id and the term it
addresses; a leader ignores what was meant for another term.

**Handover without a backoff wait.** When the leader changes (a higher term is announced, or
this tab takes the lock), a tab's link to the old leader is closed with 1001 "leader gone" and
its core, now reconnecting, is told to ``connect()`` at once (which retries without waiting);
the new link is asked of the new leader immediately, so it is pending when the new leader's
socket opens. ``up`` (the leader's connection is usable again) wakes cores waiting for a retry
the same way.

Channel messages (dicts with ``k``, the kind):

========  ==========================  =======================================================
from      kinds                       fields
========  ==========================  =======================================================
leader    ``leader`` ``bye``          ``t`` (term), ``leader`` (tab id)
leader    ``opened``                  ``t``, ``to``, ``link``, ``hello`` (text or null)
leader    frames, as one text         ``tabs_hub.frames_text``: a JSON header (``t``, ``links``
                                      {tab: link}, ``at`` {tab: [start, end]}), a newline, and
                                      each tab's frames joined with U+001E, as the page's
                                      transport joins a batch (one parse, no object to convert)
leader    ``closed``                  ``t``, ``to``, ``link``, ``code``, ``reason``
leader    ``tabs`` ``up``             ``t``, ``count`` (tabs)
leader    ``health``                  ``t``, ``health`` (the shared connection's page-visible
                                      health; times as seconds from now, never a token)
tab       ``who`` ``gone``            ``from``
tab       ``connect``                 ``t``, ``from``: ``connect()`` in that tab (retry now,
                                      or leave an error state)
tab       ``open`` ``close``          ``t``, ``from``, ``link``
tab       ``send``                    ``t``, ``from``, ``link``, ``text``
========  ==========================  =======================================================
"""

from __future__ import annotations

import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Final, Protocol

from .core import Health, State
from .driver import Driver, Port, TokenProvider
from .options import Options
from .outbound import Outbound
from .records import Record, record, replace
from .tabs_hub import CLOSE_LEADER_GONE, LEADER_GONE, ChannelMessage, Hub, Posted, read_frames

logger = logging.getLogger("wsclient")


def lock_name(url: str) -> str:
    """The Web Lock (and ``BroadcastChannel``) of the tabs sharing ``url``'s connection."""
    return f"wsclient:{url}"


# --- the role table ---------------------------------------------------------------------------


class Role(str, Enum):  # noqa: UP042 - str() must stay the value (health.role)
    ALONE = "alone"
    CANDIDATE = "candidate"
    LEADER = "leader"
    FOLLOWER = "follower"
    STOPPED = "stopped"

    def __str__(self) -> str:
        return self.value


class RoleEvent(Enum):
    SHARE = "start sharing"
    SOLO = "start alone"
    GRANTED = "lock granted"
    ANNOUNCED = "leader announced"
    LEADER_LEFT = "leader left"
    STOP = "stop"


_R = Role
_V = RoleEvent
#: role -> {event: next role}: the only place a tab's role changes.
_ROLES: Final[dict[Role, dict[RoleEvent, Role]]] = {
    _R.STOPPED: {_V.SHARE: _R.CANDIDATE, _V.SOLO: _R.ALONE},
    _R.ALONE: {_V.STOP: _R.STOPPED},
    _R.CANDIDATE: {_V.GRANTED: _R.LEADER, _V.ANNOUNCED: _R.FOLLOWER, _V.STOP: _R.STOPPED},
    _R.FOLLOWER: {
        _V.GRANTED: _R.LEADER,
        _V.ANNOUNCED: _R.FOLLOWER,
        _V.LEADER_LEFT: _R.CANDIDATE,
        _V.STOP: _R.STOPPED,
    },
    _R.LEADER: {_V.ANNOUNCED: _R.FOLLOWER, _V.STOP: _R.STOPPED},
}


class InvalidRoleEvent(RuntimeError):
    """A call that makes no sense in the tab's role (a bug in the caller, not the network)."""

    def __init__(self, role: Role, event: RoleEvent) -> None:
        super().__init__(f"{event.value} is not allowed while the tab is {role.value!r}")


@record
class RequestLock(Record):
    """Ask for the leader lock; report the grant with ``SharedTab.lock_granted``."""


@record
class ReleaseLock(Record):
    """Release the leader lock, or withdraw the request for it."""


@record
class Post(Record):
    """Post ``message`` on the channel (every other tab of the URL gets it)."""

    message: ChannelMessage


@record
class StoreTerm(Record):
    """Keep ``term`` where every tab reads it (``localStorage``)."""

    term: int


@record
class Lead(Record):
    """Run the hub and the real connection under ``term``."""

    term: int


@record
class Follow(Record):
    """``leader`` leads under ``term``: links go to it."""

    term: int
    leader: str


@record
class Resign(Record):
    """Stop the hub and close the real connection (links close with 1001 "leader gone")."""


@record
class Orphaned(Record):
    """The leader left and no other is known yet: close the link, wait for the next one."""


RoleAction = RequestLock | ReleaseLock | Post | StoreTerm | Lead | Follow | Resign | Orphaned


class Roles:
    """A tab's role and the leader term it knows (see the module docstring). Network inputs
    (``announced``, ``left``) that do not apply are ignored; caller inputs that do not apply raise
    `InvalidRoleEvent`."""

    def __init__(self, tab_id: str) -> None:
        self.tab_id = tab_id
        self.role = Role.STOPPED
        self.term = 0  # the highest term seen or held
        self.leader: str | None = None

    def _fire(self, event: RoleEvent) -> None:
        target = _ROLES[self.role].get(event)
        if target is None:
            raise InvalidRoleEvent(self.role, event)
        if target is not self.role:
            logger.info("tab %s: %s -> %s (%s)", self.tab_id, self.role, target, event.value)
        self.role = target

    def start(self, shared: bool) -> list[RoleAction]:
        """The tab starts (or comes back): shared (where the platform supports it) or alone."""
        self._fire(RoleEvent.SHARE if shared else RoleEvent.SOLO)
        if not shared:
            return []
        return [RequestLock(), Post({"k": "who", "from": self.tab_id})]

    def granted(self, stored_term: int) -> list[RoleAction]:
        """The leader lock was granted; ``stored_term`` is the term kept in storage."""
        if self.role in (Role.STOPPED, Role.ALONE):
            return [ReleaseLock()]  # granted after the tab stepped out: hand it on
        self._fire(RoleEvent.GRANTED)
        self.term = max(stored_term, self.term) + 1
        self.leader = self.tab_id
        return [
            StoreTerm(self.term),
            Lead(self.term),
            Post({"k": "leader", "t": self.term, "leader": self.tab_id}),
        ]

    def announced(self, term: int, leader: str) -> list[RoleAction]:
        """A tab says it leads under ``term``: followed if the term is newer than any known (or,
        for a candidate that knows no leader, the term it knows: a returning tab asks ``who``)."""
        newer = term > self.term or (term == self.term and self.role is Role.CANDIDATE)
        if self.role in (Role.STOPPED, Role.ALONE) or not newer:
            if term < self.term:
                logger.debug("announcement of term %d < %d ignored", term, self.term)
            return []
        was_leader = self.role is Role.LEADER
        self._fire(RoleEvent.ANNOUNCED)
        self.term = term
        self.leader = leader
        return [*([Resign()] if was_leader else []), Follow(term, leader)]

    def left(self, term: int, leader: str) -> list[RoleAction]:
        """The leader of ``term`` says it leaves (closing, sleeping, disconnected)."""
        if self.role is not Role.FOLLOWER or term != self.term or leader != self.leader:
            return []
        self._fire(RoleEvent.LEADER_LEFT)
        self.leader = None
        return [Orphaned()]

    def stop(self) -> list[RoleAction]:
        """The tab steps out: it releases the lock (a leader hands over first)."""
        role = self.role
        if role is Role.STOPPED:
            return []
        self._fire(RoleEvent.STOP)
        self.leader = None
        if role is Role.ALONE:
            return []
        if role is Role.LEADER:
            bye: ChannelMessage = {"k": "bye", "t": self.term, "leader": self.tab_id}
            return [Resign(), Post(bye), ReleaseLock()]
        return [Post({"k": "gone", "from": self.tab_id}), ReleaseLock()]

    def current(self, term: object) -> bool:
        """Whether a message of ``term`` comes from the leader this tab follows."""
        return self.role is Role.FOLLOWER and term == self.term


# --- the tab ---------------------------------------------------------------------------------


class TabsPlatform(Protocol):
    """What `SharedTab` needs from the page (``static/tabs.js`` through the browser adapter)."""

    def now(self) -> float: ...

    def request_lock(self) -> None:
        """Ask for the leader lock; call ``SharedTab.lock_granted(stored term)`` once granted."""
        ...

    def release_lock(self) -> None: ...

    def post(self, message: Posted) -> None:
        """Post on the channel; the other tabs' ``SharedTab.message`` get it."""
        ...

    def store_term(self, term: int) -> None: ...

    def set_timer(self, delay: float | None) -> None:
        """Replace the one timer of the tab's hub: call ``SharedTab.timer_fired`` after
        ``delay`` seconds (None: cancel)."""
        ...

    def wake(self) -> None:
        """Call ``SharedTab.drain()`` soon, after the current task (idempotent)."""
        ...


#: Makes the driver of the real connection for a new leader's hub (the hub is its receiver).
WireFactory = Callable[[Hub], Driver]

#: Close code and reason of a lone leader's own socket when another tab joins and the
#: connection moves to the hub (the tab's core reconnects through it at once). A page may close
#: a WebSocket only with 1000 or 3000-4999, so a real socket's close says 1000 with its reason.
CLOSE_SHARING: Final = 1000
SHARING: Final = "sharing with another tab"


class TokenNotUsed(Exception):
    """A token the leader's own core asked for while it led alone arrived after the connection
    moved to the hub: that attempt is over (the hub's wire core asks for its own)."""


class SharedTab:
    """One tab's part in sharing: its role, its hub when it leads, its virtual link.

    Make it, build the tab's driver with ``port(...)`` as its port factory, then ``start()``
    before the driver connects. The platform reports ``lock_granted``, ``message``,
    ``timer_fired`` and ``drain`` (see `TabsPlatform`).
    """

    def __init__(
        self, tab_id: str, platform: TabsPlatform, options: Options, make_wire: WireFactory
    ) -> None:
        if not tab_id or "-" in tab_id:
            raise ValueError(f"a tab id must be non-empty and hold no '-', got {tab_id!r}")
        self.tab_id = tab_id
        self.roles = Roles(tab_id)
        self._platform = platform
        self._options = options
        self._make_wire = make_wire
        self._driver: Driver | None = None
        self._base: Port | None = None
        self._port: TabPort | None = None
        #: This tab leads alone: its own core uses the real socket (no hub; module docstring).
        self.direct = False
        self._stint = 0  # counts the direct stints (a token of an older one is not used)
        self._placed: list[Callable[[], None]] = []
        self.hub: Hub | None = None
        self._link: int | None = None  # the tab core's current virtual socket
        self._link_asked = False  # its ``open`` went to a leader
        self._link_open = False
        self._mail: deque[Callable[[], None]] = deque()
        self._tabs = 1  # as the leader last said
        self._timer_at: float | None = None
        #: Called after an input that changed ``role`` or ``tabs`` (``health.role``/``tabs``).
        self.on_change: Callable[[], None] | None = None
        self._shown: tuple[Role, int, ChannelMessage | None] = (self.roles.role, 1, None)
        #: The token provider of the connection while this tab leads (it never leaves the tab).
        self.provider: TokenProvider | None = None
        self._shared: ChannelMessage | None = None  # the shared connection's health, as posted

    # --- composition -------------------------------------------------------------------------

    def port(self, make_base: Callable[[Driver], Port]) -> Callable[[Driver], Port]:
        """The port factory of the tab's own driver: ``make_base`` gives the page's port (clock,
        timer, storage; its sockets are used only when the tab is alone)."""

        def make(driver: Driver) -> Port:
            self._driver = driver
            self._base = make_base(driver)
            self._port = TabPort(self, self._base)
            return self._port

        return make

    @property
    def driver(self) -> Driver:
        if self._driver is None:
            raise RuntimeError("build the tab's Driver with SharedTab.port(...) first")
        return self._driver

    @property
    def base(self) -> Port:
        if self._base is None:
            raise RuntimeError("build the tab's Driver with SharedTab.port(...) first")
        return self._base

    @property
    def role(self) -> Role:
        return self.roles.role

    @property
    def real_sockets(self) -> bool:
        """The tab's own core opens real sockets: it is alone, or leads alone (``direct``)."""
        return self.direct or self.roles.role is Role.ALONE

    @property
    def placed(self) -> bool:
        """This tab leads or follows."""
        return self.roles.role in (Role.LEADER, Role.FOLLOWER)

    def when_placed(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once this tab leads or follows (at once if it does; never if it
        stops first). ``Client.connect`` waits so when there is a token provider: a lone
        leader's first attempt then asks its own provider (a follower's asks none)."""
        if self.placed:
            callback()
        else:
            self._placed.append(callback)

    @property
    def placing(self) -> bool:
        """A ``when_placed`` callback waits (the page shows ``connecting`` meanwhile)."""
        return bool(self._placed)

    @property
    def tabs(self) -> int:
        """Tabs sharing this tab's connection, itself included (``health.tabs``)."""
        if self.hub is not None:
            return self.hub.tabs
        return self._tabs if self.roles.role is Role.FOLLOWER else 1

    def view(self, own: Health) -> Health:
        """What the page shows: the tab's own health, with the shared connection's state,
        attempts, close, round trip and auth while the tab takes part in it (the tab's own
        outbox and duplicate counts stay its own); ``role`` and ``tabs`` of this tab."""
        role = self.roles.role
        if role is Role.STOPPED or role is Role.ALONE:
            return replace(own, role="alone", tabs=1)
        if self._placed and own.state is State.DISCONNECTED:
            own = replace(own, state=State.CONNECTING)  # connect() waits for the tab's role
        page_role = "leader" if role is Role.LEADER else "follower"
        shared = self._shared
        if shared is None or own.state is State.DISCONNECTED:
            return replace(own, role=page_role, tabs=self.tabs)
        now = self._platform.now()
        retry_in = shared["next_retry_in"]
        refresh_in = shared["auth_refresh_in"]
        return replace(
            own,
            state=State(shared["state"]),
            attempt=shared["attempt"],
            next_retry_at=None if retry_in is None else now + retry_in,
            last_close_code=shared["last_close_code"],
            last_close_reason=shared["last_close_reason"],
            error=shared["error"],
            rtt=shared["rtt"],
            offline=shared["offline"],
            protocol=shared["protocol"],
            rtt_samples=shared["rtt_samples"],
            last_error=shared["last_error"],
            auth=shared["auth"],
            auth_refresh_at=None if refresh_in is None else now + refresh_in,
            role=page_role,
            tabs=self.tabs,
        )

    def connect(self) -> None:
        """``connect()`` in this tab: the shared connection retries now (or leaves its error
        state), as a tab's own would."""
        if self.hub is not None:
            self.hub.wire.connect()
        elif self.roles.role is Role.FOLLOWER:
            self._post_up({"k": "connect"})

    def set_provider(self, provider: TokenProvider | None) -> None:
        """The token provider from its next call on (used while this tab leads)."""
        self.provider = provider
        if self.hub is not None:
            self.hub.wire.set_auth(provider)
        elif self.direct:
            self.driver.set_auth(None if provider is None else self._direct_token)

    # --- inputs --------------------------------------------------------------------------------

    def start(self, shared: bool) -> None:
        """Start (again): sharing where ``shared`` (the platform has Web Locks and
        ``BroadcastChannel``, and sharing is not turned off), else alone."""
        self._run(self.roles.start(shared))

    def stop(self) -> None:
        """Step out (``disconnect()``, the page closing or going to sleep): a leader hands
        over first."""
        self._placed = []
        self._run(self.roles.stop())
        self._tabs = 1
        self._shared = None
        self._arm()

    def lock_granted(self, stored_term: int) -> None:
        self._run(self.roles.granted(stored_term))

    def timer_fired(self) -> None:
        self._timer_at = None
        if self.hub is not None:
            self.hub.tick(self._platform.now())
        self._arm()

    def drain(self) -> None:
        """Deliver what the hub has for this tab's own link (queued, so that the tab's driver
        never hears it in the middle of its own step)."""
        mail = self._mail
        while mail:
            mail.popleft()()
        self._arm()

    def message(self, message: Posted) -> None:
        """A message another tab posted on the channel (a text: the leader's frames)."""
        if isinstance(message, str):
            frames = read_frames(message, self.tab_id)
            if frames is not None and self.roles.current(frames[0]):
                self._frames(frames[1], frames[2])  # joined as the transport joins: one parse
            return
        kind = message.get("k")
        term = message.get("t")
        if kind == "leader" or kind == "bye":
            leader = message.get("leader")
            if isinstance(term, int) and isinstance(leader, str):
                roles = self.roles
                self._run(
                    roles.announced(term, leader) if kind == "leader" else roles.left(term, leader)
                )
        elif kind in ("who", "open", "send", "close", "gone", "connect"):
            self._from_tab(kind, message)
        elif self.roles.current(term):
            self._from_leader(kind, message)
        else:
            logger.debug(
                "channel message %r of term %r ignored (following %d)", kind, term, self.roles.term
            )
        self._arm()

    # --- the virtual link (TabPort) --------------------------------------------------------------

    def link_open(self, socket_id: int) -> None:
        self._link = socket_id
        self._link_open = False
        self._link_asked = False
        self._ask()

    def link_send(self, socket_id: int, text: str) -> bool:
        if socket_id != self._link or not self._link_open:
            return False
        if self.hub is not None:
            self.hub.send(self.tab_id, socket_id, text)
            self._arm()
        else:
            self._post_up({"k": "send", "link": socket_id, "text": text})
        return True

    def link_close(self, socket_id: int) -> None:
        if socket_id != self._link:
            return
        asked = self._link_asked
        self._link = None
        self._link_open = self._link_asked = False
        if not asked:
            return
        if self.hub is not None:
            self.hub.close(self.tab_id, socket_id)
        elif self.roles.role is Role.FOLLOWER:
            self._post_up({"k": "close", "link": socket_id})

    # --- tabs_hub.Downstream: the hub's answers to this tab's own link ---------------------------

    def link_opened(self, link: int, hello: str | None) -> None:
        self._mail.append(lambda: self._opened(link, hello))
        self._platform.wake()

    def link_frames(self, link: int, texts: list[str]) -> None:
        self._mail.append(lambda: self._frames(link, texts))
        self._platform.wake()

    def link_closed(self, link: int, code: int, reason: str) -> None:
        self._mail.append(lambda: self._closed(link, code, reason))
        self._platform.wake()

    # --- internals -----------------------------------------------------------------------------

    def _run(self, actions: list[RoleAction]) -> None:
        platform = self._platform
        for action in actions:
            if isinstance(action, RequestLock):
                platform.request_lock()
            elif isinstance(action, ReleaseLock):
                platform.release_lock()
            elif isinstance(action, Post):
                platform.post(action.message)
            elif isinstance(action, StoreTerm):
                platform.store_term(action.term)
            elif isinstance(action, Lead):
                self._lead(action.term)
            elif isinstance(action, Follow):
                self._leader_changed()
            elif isinstance(action, Resign):
                self._resign()
            else:
                self._orphaned()
        self._arm()

    def _lead(self, term: int) -> None:
        """This tab leads: alone (``direct``) unless the leader before it served other tabs
        besides this one (they are about to ask for links: start the hub at once)."""
        others = self._tabs - 2  # the last leader's count, without it and this tab
        self._tabs = 1
        if others > 0:
            self._lead_hub(term)
        else:
            self._lead_direct()

    def _lead_direct(self) -> None:
        """Lead alone: the tab's core uses the real socket and calls the provider itself. A
        link it has waiting for a leader becomes a real socket (without a provider), or is
        closed so that the next attempt asks for a token first."""
        self.direct = True
        self._stint += 1
        self._shared = None
        driver = self.driver
        if self.provider is not None:
            driver.set_auth(self._direct_token)
        socket_id = self._link
        if socket_id is not None:
            asked = self._link_asked
            self._link = None
            self._link_open = self._link_asked = False
            if not asked and self.provider is None:
                self._tab_port().adopt(socket_id)
                self.base.open_socket(socket_id)
                return
            driver.socket_closed(socket_id, CLOSE_LEADER_GONE, LEADER_GONE)
        self._retry_now()

    def _share_wire(self) -> None:
        """Another tab showed up while this tab leads alone: the hub takes the real socket
        over (module docstring, "direct")."""
        logger.info(
            "tab %s: another tab joined; sharing the connection through the hub", self.tab_id
        )
        self.direct = False
        self._drop_real(CLOSE_SHARING, SHARING)
        self._lead_hub(self.roles.term)

    def _drop_real(self, code: int, reason: str) -> None:
        """The tab's core stops using real sockets: it loses the provider (the wire's core
        calls it from now on) and its real socket closes, reported to its driver."""
        driver = self.driver
        if self.provider is not None:
            driver.set_auth(None)
        socket_id = self._tab_port().release()
        if socket_id is not None and socket_id == driver.core.socket_id:
            unsent = self.base.close_socket(socket_id, CLOSE_SHARING, reason)
            driver.socket_closed(socket_id, code, reason, unsent)

    def _direct_token(self, context: dict[str, object]) -> object:
        """The token provider as the tab's own driver calls it while this tab leads alone. An
        answer that arrives after the connection moved to the hub fails that attempt, and the
        tab's core relinks at once."""
        provider = self.provider
        if provider is None:
            return None
        result = provider(context)
        if not inspect.isawaitable(result):
            return result
        return self._only_while_direct(result, self._stint)

    async def _only_while_direct(self, answer: Awaitable[object], stint: int) -> object:
        value = await answer
        if not (self.direct and self._stint == stint):
            self._mail.append(self._retry_now)
            self._platform.wake()
            raise TokenNotUsed("this tab now shares its connection: the hub asks for the token")
        return value

    def _tab_port(self) -> TabPort:
        if self._port is None:
            raise RuntimeError("build the tab's Driver with SharedTab.port(...) first")
        return self._port

    def _lead_hub(self, term: int) -> None:
        hub = Hub(self._options, term, self._platform.post, self.tab_id, self)
        hub.on_wire_health = self._wire_health
        self.hub = hub
        self._shared = None
        wire = self._make_wire(hub)
        hub.attach(wire)
        self._leader_changed()
        wire.connect()

    def _resign(self) -> None:
        if self.direct:
            self.direct = False
            self._drop_real(CLOSE_LEADER_GONE, LEADER_GONE)
            return
        hub, self.hub = self.hub, None
        self._shared = None
        if hub is not None:
            hub.on_wire_health = None
            hub.shut()
            hub.wire.close()

    def _wire_health(self, health: Health) -> None:
        """The leader's wire changed: the page of every tab shows it; the leader's own tab, if it
        waits for a retry, retries as soon as the wire is usable (the others hear ``up``)."""
        shared = _shared_health(health, self._platform.now())
        was_usable = self._shared is not None and self._shared["usable"]
        self._shared = shared
        hub = self.hub
        if hub is not None:
            hub.post({"k": "health", "health": shared})
        if shared["usable"] and not was_usable:
            self._mail.append(self._retry_now)
            self._platform.wake()
        self._mail.append(self._arm)
        self._platform.wake()

    def _orphaned(self) -> None:
        """The leader left: the link to it is gone; the next one is asked of the next leader."""
        socket_id = self._link
        if socket_id is not None and self._link_asked:
            self._link = None
            self._link_open = self._link_asked = False
            self.driver.socket_closed(socket_id, CLOSE_LEADER_GONE, LEADER_GONE)

    def _leader_changed(self) -> None:
        """A new leader: close the link to the old one, and retry at once (no backoff wait)."""
        socket_id = self._link
        if socket_id is not None and self._link_asked:
            self._link = None
            self._link_open = self._link_asked = False
            self.driver.socket_closed(socket_id, CLOSE_LEADER_GONE, LEADER_GONE)
        elif socket_id is not None:
            self._ask()  # a link waiting for a leader
        self._retry_now()

    def _retry_now(self) -> None:
        driver = self._driver
        if driver is None:
            return
        core = driver.core
        if core.state is State.RECONNECTING and core.socket_id is None:
            driver.connect()  # waiting for a retry: retry now

    def _ask(self) -> None:
        socket_id = self._link
        if socket_id is None:
            return
        role = self.roles.role
        if role is Role.LEADER and self.hub is not None:
            self._link_asked = True
            self.hub.open(self.tab_id, socket_id)
        elif role is Role.FOLLOWER:
            self._link_asked = True
            self._post_up({"k": "open", "link": socket_id})

    def _post_up(self, message: ChannelMessage) -> None:
        message["t"] = self.roles.term
        message["from"] = self.tab_id
        self._platform.post(message)

    def _opened(self, link: int, hello: str | None) -> None:
        if link == self._link and self._link_asked and not self._link_open:
            self._link_open = True
            driver = self.driver
            driver.socket_opened(link)
            if hello is not None:
                driver.frames(link, [hello])

    def _frames(self, link: int, texts: str | list[str]) -> None:
        if link == self._link and self._link_open and texts:
            self.driver.frames(link, texts)

    def _closed(self, link: int, code: int, reason: str) -> None:
        if link == self._link and self._link_asked:
            self._link = None
            self._link_open = self._link_asked = False
            self.driver.socket_closed(link, code, reason)

    def _from_leader(self, kind: object, message: ChannelMessage) -> None:
        me = self.tab_id
        if kind == "opened" and message.get("to") == me:
            hello = message.get("hello")
            self._opened(int(message["link"]), hello if isinstance(hello, str) else None)
        elif kind == "closed" and message.get("to") == me:
            self._closed(int(message["link"]), int(message["code"]), str(message["reason"]))
        elif kind == "tabs":
            count = message.get("count")
            if isinstance(count, int):
                self._tabs = count
        elif kind == "up":
            self._retry_now()
        elif kind == "health":
            health = message.get("health")
            if isinstance(health, dict):
                self._shared = health

    def _from_tab(self, kind: object, message: ChannelMessage) -> None:
        tab = message.get("from")
        if (
            self.direct
            and isinstance(tab, str)
            and (kind == "who" or (kind == "open" and message.get("t") == self.roles.term))
        ):
            self._share_wire()
        hub = self.hub
        if hub is None or not isinstance(tab, str):
            return
        if kind == "who":
            self._platform.post({"k": "leader", "t": hub.term, "leader": self.tab_id})
            if self._shared is not None:
                hub.post({"k": "health", "health": self._shared})
        elif kind == "gone":
            hub.tab_gone(tab)
        elif message.get("t") != hub.term:
            logger.debug(
                "%r from tab %s for term %r ignored (leading %d)",
                kind,
                tab,
                message.get("t"),
                hub.term,
            )
        elif kind == "connect":
            hub.wire.connect()
        elif kind == "open":
            hub.open(tab, int(message["link"]))
        elif kind == "send":
            hub.send(tab, int(message["link"]), str(message["text"]))
        else:
            hub.close(tab, int(message["link"]))

    def _arm(self) -> None:
        """After every input: re-arm the hub's timer if its deadline moved; tell ``on_change``
        if the role or the tab count did."""
        if self._placed and self.placed:
            placed, self._placed = self._placed, []
            for callback in placed:
                callback()
        shown = (self.roles.role, self.tabs, self._shared)
        if shown != self._shown:
            self._shown = shown
            if self.on_change is not None:
                self.on_change()
        deadline = self.hub.next_deadline if self.hub is not None else None
        if deadline != self._timer_at:
            self._timer_at = deadline
            now = self._platform.now()
            self._platform.set_timer(None if deadline is None else max(0.0, deadline - now))


def _shared_health(health: Health, now: float) -> ChannelMessage:
    """The page-visible part of the wire's health, as a channel message (times relative)."""
    retry_at = health.next_retry_at
    refresh_at = health.auth_refresh_at
    return {
        "state": health.state.value,
        "usable": health.state is State.CONNECTED and health.protocol != 0,
        "attempt": health.attempt,
        "next_retry_in": None if retry_at is None else max(0.0, retry_at - now),
        "last_close_code": health.last_close_code,
        "last_close_reason": health.last_close_reason,
        "error": health.error,
        "rtt": health.rtt,
        "offline": health.offline,
        "protocol": health.protocol,
        "rtt_samples": health.rtt_samples,
        "last_error": health.last_error,
        "auth": health.auth,
        "auth_refresh_in": None if refresh_at is None else max(0.0, refresh_at - now),
    }


class TabPort:
    """The tab driver's ``Port`` when sharing: sockets are virtual links (`SharedTab`) unless the
    tab's core uses the real socket (alone, or leading alone: ``SharedTab.real_sockets``); the
    clock, the timer and durable storage are the page's port. A socket stays what it was
    opened as: a real socket's sends and close go to the page's port."""

    def __init__(self, share: SharedTab, base: Port) -> None:
        self._share = share
        self._base = base
        self._real: int | None = None  # the core's socket on the page's port, if any

    def adopt(self, socket_id: int) -> None:
        """``socket_id`` (opened as a link still waiting for a leader) is a real socket now."""
        self._real = socket_id

    def release(self) -> int | None:
        """Forget the real socket (the caller closes it): the next ones are links."""
        socket_id, self._real = self._real, None
        return socket_id

    def now(self) -> float:
        return self._base.now()

    def open_socket(self, socket_id: int) -> None:
        if self._share.real_sockets:
            self._real = socket_id
            self._base.open_socket(socket_id)
        else:
            self._share.link_open(socket_id)

    def send(self, socket_id: int, text: str) -> bool:
        if socket_id == self._real:
            return self._base.send(socket_id, text)
        return self._share.link_send(socket_id, text)

    def close_socket(self, socket_id: int, code: int, reason: str) -> int:
        if socket_id == self._real:
            self._real = None
            return self._base.close_socket(socket_id, code, reason)
        self._share.link_close(socket_id)
        return 0

    def set_timer(self, delay: float | None) -> None:
        self._base.set_timer(delay)

    def save(self, entry: Outbound) -> None:
        self._base.save(entry)

    def forget(self, id: str) -> None:
        self._base.forget(id)

    def load(self) -> list[Outbound]:
        return self._base.load()

    def run_async(self, awaitable: Awaitable[object], done: Callable[[bool, object], None]) -> None:
        self._base.run_async(awaitable, done)

    def dispose(self) -> None:
        self._base.dispose()
