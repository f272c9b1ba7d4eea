"""The page's client: one connection core, one event router and its stores, one browser adapter.

``start()`` is what ``src/main.py`` runs on page load: it reads the URL and options from the page,
connects, mounts the status component into every ``[data-ws-status]`` element, renders the
dashboard if the page has one, publishes ``window.wsclient`` and dispatches ``wsclient:ready``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from .config import ConfigError, options_from_query, query_parameters, resolve_url
from .core import Health, Options, Session, State
from .driver import Driver, Port
from .messages import Message, serialize
from .records import replace
from .router import ConnectionState, EventRouter
from .stores import Readable, Writable, readonly, writable

log = logging.getLogger("wsclient")


#: Builds the platform side of the driver (``browser.BrowserPort`` in the page) for a URL.
PortFactory = Callable[[str, Driver], Port]


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
        port: PortFactory | None = None,
    ) -> None:
        self.router = EventRouter()
        self.core = Session(options)
        self._health: Writable[Health] = writable(self.core.health())
        self._subscriptions: Writable[tuple[str, ...]] = writable(())
        #: Session health for the UI (state, attempt, next retry, RTT, queue depth...).
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
        self._state_value = ConnectionState()  # what router.state starts with
        self.url = url if config_error is None else None
        self._driver: Driver | None = None
        if self.url is not None:
            if port is None:
                from .browser import BrowserPort

                port = BrowserPort
            make_port = port
            url_ = self.url
            self._driver = Driver(
                self.core,
                lambda driver: make_port(url_, driver),
                on_text=self.router.handle,
                on_binary=self.router.drop_binary,
                on_batch_end=self.router.publish,
                on_health=self._publish,
            )
        else:
            self._publish_config_error()

    @property
    def clock(self) -> Callable[[], float]:
        """The clock of the connection's times (``Health.next_retry_at``)."""
        return self._driver.port.now if self._driver is not None else time.monotonic

    @property
    def driver(self) -> Driver | None:
        """The driver (None when the configuration is unusable)."""
        return self._driver

    # --- commands ----------------------------------------------------------------------------

    def connect(self) -> None:
        """Connect (or retry now); a client with a bad configuration stays in its error."""
        if self._driver is not None:
            self._driver.connect()

    def disconnect(self) -> None:
        """Close with 1000 and stay disconnected until ``connect()``."""
        if self._driver is not None:
            self._driver.disconnect()

    def send(self, message: object) -> None:
        """Send a JSON-serializable message; queued while not connected.

        Raises ``TypeError``/``ValueError`` (saying what to change) for a value JSON cannot hold,
        before anything is queued.
        """
        text = serialize(message)
        if self._driver is not None:
            self._driver.send_text(text)
        else:
            self.core.send(text, 0.0)
            self._publish_config_error()

    def subscribe(self, project_id: str) -> None:
        """Receive the events of ``project_id``; counted, so each subscribe needs an unsubscribe."""
        project_id = _project_id(project_id)
        if self._driver is not None:
            self._driver.subscribe(project_id)
        else:
            self.core.subscribe(project_id, 0.0)
        self._subscriptions.set(tuple(self.core.subscriptions))

    def unsubscribe(self, project_id: str) -> None:
        """Undo one ``subscribe``; the server is told when the last local subscriber leaves."""
        project_id = _project_id(project_id)
        if project_id not in self.core.subscriptions:
            raise ValueError(
                f"not subscribed to project {project_id!r}: call subscribe() before unsubscribe()"
            )
        if self._driver is not None:
            self._driver.unsubscribe(project_id)
        else:
            self.core.unsubscribe(project_id, 0.0)
        self._subscriptions.set(tuple(self.core.subscriptions))

    def on(self, type_: str, callback: Callable[[Message], object]) -> Callable[[], None]:
        """Call ``callback(message)`` for each message of ``type_`` (``"*"``: every message)."""
        return self.router.on(type_, callback)

    def close(self) -> None:
        """Disconnect and free every browser resource (the page is going away)."""
        if self._driver is not None:
            self._driver.close()

    # --- plumbing ----------------------------------------------------------------------------

    def _publish_config_error(self) -> None:
        """Without a usable URL the client stays in ERROR; the rest of its health is real."""
        error = self._config_error or "no server URL: pass ?ws=ws://host:port/ws"
        self._publish(replace(self.core.health(), state=State.ERROR, error=error))

    def _publish(self, health: Health) -> None:
        self._health.set(health)
        status: Any = health.state.value
        state = ConnectionState(status, health.attempt, health.error)
        if state != self._state_value:  # subscribers hear changes only, not every health tick
            self._state_value = state
            self.router.state.set(state)


def _project_id(project_id: object) -> str:
    if not isinstance(project_id, str) or not project_id.strip():
        raise ValueError(f"a project id must be a non-empty string, got {project_id!r}")
    return project_id.strip()


def client_from_page(href: str, port: PortFactory | None = None) -> Client:
    """A client configured from the page's URL (``?ws=`` and the timing options)."""
    query = query_parameters(href)
    try:
        url = resolve_url(query.get("ws"), href)
        options = options_from_query(query)
    except ConfigError as exc:
        log.error("wsclient: %s", exc)
        return Client(None, config_error=str(exc), port=port)
    return Client(url, options, port=port)


def start() -> Client:
    """Page entry point: connect, mount the UI, publish ``window.wsclient``."""
    from . import browser, ui

    client = client_from_page(browser.page_url())
    if client.driver is not None and not browser.online():
        client.driver.went_offline()
    ui.mount_status(client.health, client.clock)
    ui.mount_dashboard(client)
    browser.expose_client(
        client, lambda element: ui.StatusWidget(element, client.health, client.clock).unmount
    )
    client.connect()
    return client
