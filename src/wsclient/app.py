"""The page entry point: the composition root of the client in a page.

``start()`` is what the page's ``<script type="py">`` runs on load (``from wsclient import app;
app.start()``): it reads the URL and options from the page, mounts the status component into
every ``[data-ws-status]`` element, publishes ``window.wsclient``, dispatches ``wsclient:ready``
and connects. It is the one module that may import every layer; the browser modules are imported
inside ``start()`` so that this module (and its re-exports of ``client.py``) imports in CPython.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from .client import (
    DEFAULT_REQUEST_TIMEOUT,
    Client,
    Outcome,
    PortFactory,
    RequestError,
    client_from_page,
    loads,
)
from .config import ConfigError, log_level, query_parameters
from .core import Session
from .driver import Driver, TokenProvider
from .options import Options

if TYPE_CHECKING:
    import asyncio

    from .port import BrowserPort, BrowserTabs
    from .tabs import SharedTab
    from .tabs_hub import Hub

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT",
    "Client",
    "Outcome",
    "PortFactory",
    "RequestError",
    "client_from_page",
    "loads",
    "start",
]

log = logging.getLogger("wsclient")


def start(
    *,
    setup: Callable[[Client], object] | None = None,
    auth: TokenProvider | None = None,
    share: bool = True,
) -> Client:
    """Page entry point: log to the console (``?log=``), mount the status component, publish
    ``window.wsclient``, then connect. ``setup(client)`` runs just before the client connects
    (an app mounts its views and subscribes its projects there: ``demo/main.py``).

    ``auth``: the token provider (docs/protocol.md, "Authentication"), sync or async, called
    with ``{"reason", "attempt"}``; without it, the page's ``window.wsclientAuth`` function if it
    defined one before the client started.

    ``share``: share one connection with the other tabs of the browser on the same server URL
    where the browser can (docs/protocol.md, "Sharing"), unless ``Options.share`` is off;
    ``False`` (or ``?share=0``) connects this tab alone. A tab that shares publishes
    ``window.wsclient`` once its liveness lock is held and the stored outbox entries of tabs
    that are gone are its own (a few milliseconds); a tab alone leads on its own socket."""
    from . import bridge, dom, port, ui

    href = dom.page_url()
    try:
        dom.log_to_console(log_level(query_parameters(href)))
    except ConfigError as exc:
        dom.log_to_console(logging.WARNING)
        log.warning("wsclient: %s", exc)
    provider = auth if auth is not None else port.page_token_provider()
    tabs: list[port.BrowserTabs] = []
    bases: list[port.BrowserPort] = []

    def shared_tab(url: str, options: Options) -> SharedTab | None:
        if not (share and options.share and port.sharing_supported()):
            return None
        # Tab sharing is imported by pages that share only (``share=0`` pages never run it; the
        # memory snapshot has it imported).
        from .tabs import SharedTab
        from .tabs_hub import WirePort

        tab_id = f"{random.getrandbits(48):012x}"
        platform = port.BrowserTabs(url, tab_id)

        def make_wire(hub: Hub) -> Driver:
            """The leader's one real connection; only the leader calls the token provider."""
            provider_now = shared.provider
            return Driver(
                Session(options, auth=provider_now is not None),
                lambda driver: WirePort(port.BrowserPort(url, driver)),
                hub,
                provider=provider_now,
            )

        shared = SharedTab(tab_id, platform, options, make_wire)
        platform.share = shared
        tabs.append(platform)
        return shared

    def page_port(url: str, driver: Driver) -> port.BrowserPort:
        owns = tabs[0].adoption.mine if tabs else None
        base = port.BrowserPort(url, driver, owns=owns)
        bases.append(base)
        return base

    client = client_from_page(href, port=page_port, auth=provider, share=shared_tab)
    if not dom.online():
        client.driver.network_changed(False)
    ui.mount_status(client.health, client.clock)

    def go() -> None:
        bridge.expose_client(
            client, lambda element: ui.StatusWidget(element, client.health, client.clock).unmount
        )
        if setup is not None:
            setup(client)
        client.connect()

    if not tabs:
        go()
    else:
        _start_shared(client, tabs[0], bases[0], go)
    return client


def _start_shared(
    client: Client, platform: BrowserTabs, base: BrowserPort, go: Callable[[], None]
) -> None:
    """Once this tab's liveness lock is held: take over the stored entries of tabs that are
    gone (also whenever a tab says it leaves), then publish and connect. The page's sleep
    (back/forward cache, freeze) steps the tab out, its wake brings it back, and its unload
    hands over and frees everything."""
    import asyncio  # slow to import: only where it is needed

    from .tabs import Role

    share = client.share
    assert share is not None
    asleep = False

    def adopt() -> list[asyncio.Future[None]]:
        return platform.adopt(base.stored(), client.adopt)

    def sleep() -> None:
        nonlocal asleep
        if share.role in (Role.LEADER, Role.FOLLOWER, Role.CANDIDATE):
            asleep = True
            share.stop()

    def wake() -> None:
        nonlocal asleep
        if asleep:
            asleep = False
            client.connect()

    def unload() -> None:
        client.close()
        platform.close()

    platform.on_sleep = sleep
    platform.on_wake = wake
    platform.on_unload = unload
    platform.on_tab_left = adopt

    async def when_alive() -> None:
        try:
            await platform.alive
            await asyncio.gather(*adopt())
        except Exception:
            log.exception("wsclient: tab sharing could not start; this tab connects anyway")
        go()

    _starting.add(task := asyncio.ensure_future(when_alive()))
    task.add_done_callback(_starting.discard)


#: The start-up tasks under way (asyncio keeps only weak references to tasks).
_starting: set[asyncio.Future[None]] = set()
