"""The page's client: one connection core, one event router and its stores, one browser adapter.

``start()`` is what ``src/main.py`` runs on page load: it reads the URL and options from the page,
connects, mounts the status component into every ``[data-ws-status]`` element, renders the
dashboard if the page has one, publishes ``window.wsclient`` and dispatches ``wsclient:ready``.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from .browser import BrowserClient
from .config import ConfigError, options_from_query, resolve_url
from .core import Connection, Health, Options, State
from .events import ConnectionState, EventRouter
from .messages import Message, serialize
from .stores import Readable, Writable, readonly, writable

log = logging.getLogger("wsclient")


def _health_for_error(error: str) -> Health:
    return Health(
        state=State.ERROR,
        attempt=0,
        next_retry_at=None,
        last_close_code=None,
        last_close_reason="",
        error=error,
        rtt=None,
        queue_depth=0,
        queue_overflow=0,
    )


class Client:
    """The client a page uses: connection commands, listeners and stores.

    A bad URL or option does not raise: the client stays in the ``error`` state with a message
    that says what to fix, and every other call still works (sends queue up).
    """

    def __init__(
        self,
        url: str | None,
        options: Options | None = None,
        *,
        config_error: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.router = EventRouter()
        self.core = Connection(options)
        self._health: Writable[Health] = writable(self.core.health())
        self._subscriptions: Writable[tuple[str, ...]] = writable(())
        #: Connection health for the UI (state, attempt, next retry, RTT, queue depth...).
        self.health: Readable[Health] = readonly(self._health)
        #: Projects this page is subscribed to, in the order they were first subscribed.
        self.subscriptions: Readable[tuple[str, ...]] = readonly(self._subscriptions)
        self.state = self.router.state
        self.is_connected = self.router.is_connected
        self.messages = self.router.messages
        self.projects = self.router.projects
        self.files = self.router.files
        self.processes = self.router.processes
        self.dropped = self.router.dropped
        self.errors = self.router.errors
        self._config_error = config_error
        self._browser: BrowserClient | None = None
        if url is not None and config_error is None:
            self._browser = BrowserClient(
                url,
                self.core,
                on_text=self.router.feed,
                on_binary=self.router.drop_binary,
                on_health=self._publish,
                clock=clock,
            )
        else:
            self._publish(_health_for_error(config_error or "no server URL"))

    @property
    def url(self) -> str | None:
        return self._browser.url if self._browser is not None else None

    # --- commands ----------------------------------------------------------------------------

    def connect(self) -> None:
        """Connect (or retry now); a client with a bad configuration stays in its error."""
        if self._browser is not None:
            self._browser.connect()

    def disconnect(self) -> None:
        """Close with 1000 and stay disconnected until ``connect()``."""
        if self._browser is not None:
            self._browser.disconnect()

    def send(self, message: object) -> None:
        """Send a JSON-serializable message; queued while not connected.

        Raises ``TypeError``/``ValueError`` (saying what to change) for a value JSON cannot hold,
        before anything is queued.
        """
        text = serialize(message)
        if self._browser is not None:
            self._browser.send_text(text)
        else:
            self.core.send(text, self.clock())
            self._publish(_health_for_error(self._config_error or "no server URL"))

    def subscribe(self, project_id: str) -> None:
        """Receive the events of ``project_id``; counted, so each subscribe needs an unsubscribe."""
        project_id = _project_id(project_id)
        if self._browser is not None:
            self._browser.subscribe(project_id)
        else:
            self.core.subscribe(project_id, self.clock())
        self._subscriptions.set(tuple(self.core.subscriptions))

    def unsubscribe(self, project_id: str) -> None:
        """Undo one ``subscribe``; the server is told when the last local subscriber leaves."""
        project_id = _project_id(project_id)
        if project_id not in self.core.subscriptions:
            raise ValueError(
                f"not subscribed to project {project_id!r}: call subscribe() before unsubscribe()"
            )
        if self._browser is not None:
            self._browser.unsubscribe(project_id)
        else:
            self.core.unsubscribe(project_id, self.clock())
        self._subscriptions.set(tuple(self.core.subscriptions))

    def on(self, type_: str, callback: Callable[[Message], object]) -> Callable[[], None]:
        """Call ``callback(message)`` for each message of ``type_`` (``"*"``: every message)."""
        return self.router.on(type_, callback)

    def close(self) -> None:
        """Disconnect and free every browser resource (the page is going away)."""
        if self._browser is not None:
            self._browser.close()

    # --- plumbing ----------------------------------------------------------------------------

    def _publish(self, health: Health) -> None:
        self._health.set(health)
        status: Any = health.state.value
        self.router.state.set(ConnectionState(status, health.attempt, health.error))


def _project_id(project_id: object) -> str:
    if not isinstance(project_id, str) or not project_id.strip():
        raise ValueError(f"a project id must be a non-empty string, got {project_id!r}")
    return project_id.strip()


def client_from_page(href: str) -> Client:
    """A client configured from the page's URL (``?ws=`` and the timing options)."""
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(href).query))
    try:
        url = resolve_url(query.get("ws"), href)
        options = options_from_query(query)
    except ConfigError as exc:
        log.error("wsclient: %s", exc)
        return Client(None, config_error=str(exc))
    return Client(url, options)


def start() -> Client:
    """Page entry point: connect, mount the UI, publish ``window.wsclient``."""
    from . import browser, ui

    client = client_from_page(browser.page_url())
    ui.mount_status(client.health, client.clock)
    ui.mount_dashboard(client)
    browser.expose_client(client)
    client.connect()
    return client
