"""The client: one connection core, one event router and its stores, driven through a port.

``Client`` is the public API (commands, requests, listeners, stores); it knows no browser: the
page's port (``port.BrowserPort``) is handed in by the entry point, ``app.start()``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .actions import Settle
from .config import (
    ConfigError,
    options_from_query,
    query_parameters,
    resolve_url,
)
from .core import Health, Session, State
from .driver import Driver, NoStorage, Port, TokenProvider
from .messages import MAX_DEPTH, GenericMessage, Message, serialize, too_deep
from .options import Options
from .outbound import Outbound
from .records import replace
from .router import ConnectionState, EventRouter
from .stores import Readable, Writable, readonly, report_callback_error, writable
from .streams import SyncStatus

if TYPE_CHECKING:
    import asyncio

    from .tabs import SharedTab

log = logging.getLogger("wsclient")


#: Builds the platform side of the driver (``port.BrowserPort`` in the page) for a URL.
PortFactory = Callable[[str, Driver], Port]

#: How long ``request()`` waits for its ``ack`` unless told otherwise (seconds).
DEFAULT_REQUEST_TIMEOUT = 10.0

#: The outcome of a request: (ok, data, error).
Outcome = tuple[bool, object, str | None]


class ArgumentError(ValueError):
    """An argument the client refuses by one of its rules (a project id, a request's ``id``);
    the message says what to pass. The page's JS API throws it as a ``TypeError``."""


class RequestError(Exception):
    """A request was refused by the server (its error text), timed out, or could not be kept."""


class _NoServer(NoStorage):
    """The port of a client without a usable URL: it never opens a socket (the client stays in
    its configuration error; sends wait in memory)."""

    def __init__(self, _url: str, _driver: Driver) -> None:
        pass

    def now(self) -> float:
        return time.monotonic()

    def open_socket(self, socket_id: int) -> None:
        raise AssertionError("a client without a URL never connects")

    def send(self, socket_id: int, text: str) -> bool:
        return False

    def close_socket(self, socket_id: int, code: int, reason: str) -> int:
        return 0

    def set_timer(self, delay: float | None) -> None:
        pass

    def run_async(self, awaitable: Awaitable[object], done: Callable[[bool, object], None]) -> None:
        raise AssertionError("a client without a URL never asks for a token")

    def dispose(self) -> None:
        pass


class Client:
    """The client a page uses: connection commands, requests, listeners and stores.

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
        id_prefix: str | None = None,
        auth: TokenProvider | None = None,
        share: SharedTab | None = None,
    ) -> None:
        """``share``: this tab's part in a connection shared by the tabs of the browser
        (``tabs.py``); its sockets are then links to the leader tab, and only a leader calls
        ``auth`` (it never crosses to another tab)."""
        options = options if options is not None else Options()
        self._share = share
        if share is not None:
            share.provider = auth
            auth = None
        self.router = EventRouter(
            max_frame_chars=options.max_frame_size, keep_completed=options.keep_completed
        )
        self.core = Session(options, id_prefix=id_prefix, auth=auth is not None)
        self._health: Writable[Health] = writable(self.core.health())
        self._subscriptions: Writable[tuple[str, ...]] = writable(())
        self._sync: Writable[Mapping[str, SyncStatus]] = writable(MappingProxyType({}))
        #: Session health for the UI (state, attempt, next retry, RTT, queue depth...).
        self.health: Readable[Health] = readonly(self._health)
        #: Projects this page is subscribed to, in the order they were first subscribed.
        self.subscriptions: Readable[tuple[str, ...]] = readonly(self._subscriptions)
        #: project -> sync status (``live | recovering | reset | stale``), docs/protocol.md.
        self.sync: Readable[Mapping[str, SyncStatus]] = readonly(self._sync)
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
        self._watchers: dict[str, list[Callable[[bool, object, str | None], None]]] = {}
        self._outcomes: dict[str, Outcome] = {}  # settled requests nobody waited for yet
        self.url = url if config_error is None else None
        make_port: PortFactory
        if self.url is None:
            make_port = _NoServer
        elif port is None:
            raise ValueError(
                "Client(url) needs port=, a factory of the driver's Port "
                "(app.start() passes port.BrowserPort; tests pass a fake)"
            )
        else:
            make_port = port
        url_ = self.url or ""

        def page_port(driver: Driver) -> Port:
            return make_port(url_, driver)

        tab_port = page_port if share is None or self.url is None else share.port(page_port)
        self.driver = Driver(self.core, tab_port, self, provider=auth)
        if share is not None:
            share.on_change = self._publish_health
        if self.url is None:
            self._publish_config_error()

    @property
    def options(self) -> Options:
        """The connection's options (timings and limits)."""
        return self.core.options

    @property
    def clock(self) -> Callable[[], float]:
        """The clock of the connection's times (``Health.next_retry_at``)."""
        return self.driver.port.now

    # --- commands ----------------------------------------------------------------------------

    @property
    def share(self) -> SharedTab | None:
        """This tab's part in a connection shared between tabs, if it shares."""
        return self._share

    def connect(self) -> None:
        """Connect (or retry now); a client with a bad configuration stays in its error. A tab
        that shares (re)joins the tabs first; with a token provider its core connects once it
        knows whether it leads (then it calls the provider) or follows (it never does), a lock
        grant or a leader's answer away (``state`` says ``connecting`` meanwhile)."""
        if self.url is None:
            return
        share = self._share
        if share is not None:
            from .tabs import Role  # tab sharing is imported by pages that share only

            if share.placing:
                return  # already waiting for the tab's role
            if share.role is Role.STOPPED:
                share.start(True)
                if share.provider is not None and not share.placed:
                    # Only a leader calls the provider: connect once the role is known.
                    share.when_placed(self.driver.connect)
                    self._publish_health()
                    return
            else:
                share.connect()
        self.driver.connect()

    def disconnect(self) -> None:
        """Close with 1000 and stay disconnected until ``connect()``; a tab that shares steps
        out (a leader hands the connection to another tab)."""
        self.driver.disconnect()
        if self._share is not None:
            self._share.stop()

    def set_auth(self, provider: TokenProvider | None) -> None:
        """Replace the token provider from its next call on (None: connect without a token).
        An open connection is left alone; a client waiting because it was signed out (or
        stopped by a second 4401 in a row) starts a new attempt at once."""
        if provider is not None and not callable(provider):
            raise TypeError(
                f"set_auth() needs a function returning the token (or None), got "
                f"{type(provider).__name__}"
            )
        if self._share is not None:
            self._share.set_provider(provider)
        else:
            self.driver.set_auth(provider)

    def send(self, message: object) -> None:
        """Send a JSON-serializable message; queued while not connected. With a v2 server it
        carries an ``id`` and is kept (and re-sent after reconnects) until acknowledged.

        Raises ``TypeError``/``ValueError`` (saying what to change) for a value JSON cannot hold,
        before anything is queued.
        """
        text = serialize(message)
        self.driver.send_text(text, tagged=isinstance(message, dict) and "id" not in message)
        if self.url is None:
            self._publish_config_error()

    def send_text(self, text: str) -> None:
        """``send`` for a message already serialized as JSON (the page's JS API uses
        ``JSON.stringify``)."""
        message = loads(text)
        self.driver.send_text(text, tagged=isinstance(message, dict) and "id" not in message)

    def request(
        self, message: dict[str, Any], timeout: float = DEFAULT_REQUEST_TIMEOUT
    ) -> asyncio.Future[object]:  # asyncio is imported here only: it is slow to import
        """Send ``message`` and wait for the server's ``ack``: resolves with its ``data``, or
        fails with `RequestError` (the server's error text, or "request <type> timed out after
        <ms> ms"). Kept and re-sent with the same id after reconnects (and across a page
        reload) until then."""
        import asyncio

        future: asyncio.Future[object] = asyncio.get_event_loop().create_future()

        def settle(ok: bool, data: object, error: str | None) -> None:
            if future.done():
                return
            if ok:
                future.set_result(data)
            else:
                future.set_exception(RequestError(error))

        self.watch(self.start_request(message, timeout), settle)
        return future

    def start_request(
        self, message: dict[str, Any], timeout: float = DEFAULT_REQUEST_TIMEOUT
    ) -> str:
        """``request`` without the future: returns the request's id (see ``watch``)."""
        if not isinstance(message, dict):
            raise TypeError(f"request() needs a JSON object (a dict), got {type(message).__name__}")
        return self.request_text(serialize(message), timeout)

    def request_text(self, text: str, timeout: float = DEFAULT_REQUEST_TIMEOUT) -> str:
        """``start_request`` for a message already serialized as a JSON object."""
        message = loads(text)
        if not isinstance(message, dict):
            shown = text if len(text) <= 40 else text[:40] + "..."
            raise TypeError(f"expected a JSON object, got the JSON {shown}")
        if "id" in message:
            raise ArgumentError(
                "the client sets a request's 'id' itself: remove the 'id' field "
                f"(got {json.dumps(message['id'])})"
            )
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ValueError(
                f"request() timeout must be a positive number of seconds, got {timeout!r}"
            )
        type_ = message.get("type")
        return self.driver.request(text, type_ if isinstance(type_, str) else "message", timeout)

    def watch(self, request_id: str, callback: Callable[[bool, object, str | None], None]) -> None:
        """Call ``callback(ok, data, error)`` once request ``request_id`` settles (at once if it
        already has). Raises ``KeyError`` for an id this page never had."""
        outcome = self._outcomes.pop(request_id, None)
        if outcome is not None:
            callback(*outcome)
        elif any(id_ == request_id for id_, _ in self.core.delivery.pending_requests()):
            self._watchers.setdefault(request_id, []).append(callback)
        else:
            raise KeyError(
                f"no request {json.dumps(request_id, default=repr)} is pending; "
                "pending() lists the ones this page has"
            )

    def pending(self) -> list[dict[str, Any]]:
        """``[{"id", "message"}]`` of the requests not settled yet, oldest first (those carried
        over a reload included)."""
        return [
            {"id": id_, "message": json.loads(text)}
            for id_, text in self.core.delivery.pending_requests()
        ]

    def subscribe(self, project_id: str) -> None:
        """Receive the events of ``project_id``; counted, so each subscribe needs an unsubscribe."""
        project_id = _project_id(project_id)
        self.driver.subscribe(project_id)
        self._subscriptions.set(tuple(self.core.streams))

    def unsubscribe(self, project_id: str) -> None:
        """Undo one ``subscribe``; the server is told when the last local subscriber leaves."""
        project_id = _project_id(project_id)
        if project_id not in self.core.streams:
            raise ValueError(f"not subscribed to {project_id!r}; call subscribe() first")
        self.driver.unsubscribe(project_id)
        if project_id not in self.core.streams:  # its last local subscriber left
            self.router.forget(project_id)
            self.router.publish()
        self._subscriptions.set(tuple(self.core.streams))

    def on(self, type_: str, callback: Callable[[Message], object]) -> Callable[[], None]:
        """Call ``callback(message)`` for each message of ``type_`` (``"*"``: every message;
        ``"resync"``: a project whose missed events cannot be recovered)."""
        return self.router.on(type_, callback)

    def adopt(self, entries: list[Outbound]) -> None:
        """Take over outbox entries a tab that is gone left in storage: queued, or sent at once
        while connected (``tabs_outbox.py``)."""
        self.core.restore(entries, self.driver.port.now())
        self.driver.settle()

    def close(self) -> None:
        """Disconnect and free every browser resource (the page is going away); a leader tab
        hands over first."""
        if self._share is not None:
            self._share.stop()
        self.driver.close()

    # --- driver.Receiver ---------------------------------------------------------------------

    def parse(self, text: str) -> Message | None:
        return self.router.parse(text)

    def parse_joined(self, batch: str) -> list[Message | None]:
        return self.router.parse_joined(batch)

    def dispatch(self, message: Message) -> None:
        self.router.dispatch(message)

    def on_binary(self, size: int) -> None:
        self.router.drop_binary(size)

    def on_too_large(self, length: int) -> None:
        self.router.drop_too_large(length)

    def on_batch_end(self) -> None:
        self.router.publish()

    def on_health(self, health: Health) -> None:
        if self.url is None:
            health = replace(health, state=State.ERROR, error=self._config_error)
        elif self._share is not None:
            health = self._share.view(health)
        self._health.set(health)
        status: Any = health.state.value
        state = ConnectionState(status, health.attempt, health.error)
        if state != self._state_value:  # subscribers hear changes only, not every health tick
            self._state_value = state
            self.router.state.set(state)

    def on_sync(self, statuses: dict[str, SyncStatus]) -> None:
        self._sync.set(MappingProxyType(statuses))

    def on_settled(self, settle: Settle) -> None:
        watchers = self._watchers.pop(settle.id, None)
        if watchers is None:
            self._outcomes[settle.id] = (settle.ok, settle.data, settle.error)
            return
        for callback in watchers:
            try:
                callback(settle.ok, settle.data, settle.error)
            except Exception as exc:
                report_callback_error(f"a watcher of request {settle.id}", exc, callback)

    def on_resync(self, project_id: str) -> None:
        self.router.dispatch(
            GenericMessage("resync", None, {"type": "resync", "project_id": project_id})
        )
        self.router.publish()

    # --- plumbing ----------------------------------------------------------------------------

    def _publish_config_error(self) -> None:
        self.on_health(self.core.health())

    def _publish_health(self) -> None:
        """The shared connection, or this tab's role or tab count, changed."""
        self.on_health(self.core.health())


def loads(text: str) -> object:
    """JSON text handed to the client, read without risking the interpreter's stack."""
    if len(text) > MAX_DEPTH and too_deep(text):
        raise ValueError(f"cannot send JSON nested deeper than {MAX_DEPTH} levels: flatten it")
    return json.loads(text)


def _project_id(project_id: object) -> str:
    """``project_id`` trimmed; `ArgumentError` if it is not a non-empty string."""
    if not isinstance(project_id, str) or not project_id.strip():
        shown = json.dumps(project_id, default=repr)
        raise ArgumentError(f"expected a non-empty project id, got {shown}")
    return project_id.strip()


def client_from_page(
    href: str,
    port: PortFactory | None = None,
    auth: TokenProvider | None = None,
    share: Callable[[str, Options], SharedTab | None] | None = None,
) -> Client:
    """A client configured from the page's URL (``?ws=`` and the timing options); ``auth``:
    its token provider, if the server wants one; ``share(url, options)``: the tab's part in a
    connection shared between tabs, or None to connect alone."""
    query = query_parameters(href)
    try:
        url = resolve_url(query.get("ws"), href)
        options = options_from_query(query)
    except ConfigError as exc:
        log.error("wsclient: %s", exc)
        return Client(None, config_error=str(exc), port=port)
    shared = share(url, options) if share is not None else None
    id_prefix = shared.tab_id if shared is not None else None
    return Client(url, options, port=port, auth=auth, share=shared, id_prefix=id_prefix)
