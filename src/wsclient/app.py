"""The page entry point: the composition root of the client in a page.

``start()`` is what the page's ``<script type="py">`` runs on load (``from wsclient import app;
app.start()``): it reads the URL and options from the page, mounts the status component into
every ``[data-ws-status]`` element, publishes ``window.wsclient``, dispatches ``wsclient:ready``
and connects. It is the one module that may import every layer; the browser modules are imported
inside ``start()`` so that this module (and its re-exports of ``client.py``) imports in CPython.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

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
from .driver import TokenProvider

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
) -> Client:
    """Page entry point: log to the console (``?log=``), mount the status component, publish
    ``window.wsclient``, then connect. ``setup(client)`` runs just before the client connects
    (an app mounts its views and subscribes its projects there: ``demo/main.py``).

    ``auth``: the token provider (docs/protocol.md, "Authentication"), sync or async, called
    with ``{"reason", "attempt"}``; without it, the page's ``window.wsclientAuth`` function if it
    defined one before the client started."""
    from . import bridge, dom, port, ui

    href = dom.page_url()
    try:
        dom.log_to_console(log_level(query_parameters(href)))
    except ConfigError as exc:
        dom.log_to_console(logging.WARNING)
        log.warning("wsclient: %s", exc)
    provider = auth if auth is not None else port.page_token_provider()
    client = client_from_page(href, port=port.BrowserPort, auth=provider)
    if not dom.online():
        client.driver.went_offline()
    ui.mount_status(client.health, client.clock)
    bridge.expose_client(
        client, lambda element: ui.StatusWidget(element, client.health, client.clock).unmount
    )
    if setup is not None:
        setup(client)
    client.connect()
    return client
