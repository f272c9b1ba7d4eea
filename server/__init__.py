"""Mock/demo backend for the WebSocket client: static files + `/ws` + fault-injection controls.

It speaks the wire protocol of docs/protocol.md (v2 by default, v1 on request, v3 authentication
on request) and doubles as the e2e test backend.

Modules: ``protocol.py`` (the reference protocol at ``/ws``: v1, v2, v3 auth), ``faults.py`` (the
fault levers), ``auth.py`` (tokens and ``POST /auth/token``), ``demo.py`` (the demo loop),
``streams.py`` / ``acks.py`` (v2's project streams and acknowledgements, no I/O),
``connections.py`` (live sockets and what is recorded about them), ``records.py`` (the frozen
records tests read), ``mock.py`` (``MockServer``: the composition and its table of levers),
``thread.py`` (``ServerThread``), ``app.py`` / ``static.py`` / ``__main__.py`` (HTTP and the CLI).

Command line
------------
    python -m server [--host 127.0.0.1] [--port 8000] [--root DIR] [--demo | --no-demo]
                     [--heartbeat SECONDS] [--v1] [--history-size N] [--history-age SECONDS]
                     [--auth] [--token-lifetime SECONDS] [--hello-before-auth]

- ``--host``/``--port``: bind address (default 127.0.0.1:8000); ``--port 0`` picks a free port.
- ``--root``: directory served at ``/`` (default: the repo root). ``/`` serves ``index.html``;
  directories serve their ``index.html`` or 404 (no listings); dot-paths (.git, .venv) are hidden.
- ``--demo/--no-demo``: demo events for subscribed projects (default on).
- ``--heartbeat``: ``system.heartbeat`` period per connection in seconds (default 3; 0 = off).
- ``--v1``: speak protocol v1 exactly (no hello, offsets, subscribed, snapshots or acks).
- ``--history-size``/``--history-age``: per-project history kept for recovery (default 10,000
  events and 180 s, enough for a 2-minute outage of a busy project). The ack dedup window equals
  the history age.
- ``--auth``: protocol v3, every connection must authenticate (below); without it nothing of v3
  happens and ``/auth/token`` answers 404.
- ``--token-lifetime``: seconds a token is valid from issue, fractions allowed (default 60).
- ``--hello-before-auth``: with ``--auth``, send v2's ``hello`` right after the upgrade (default:
  right after the first ``auth.ok``).

When ready it prints one line, ``Serving demo at http://127.0.0.1:<port>/``, and flushes. Log
lines (stderr) say when a connection authenticates or is refused, naming the token only by
``token_digest(token)`` (8 hex digits of its SHA-256), never the token itself.

WebSocket endpoint ``/ws``
--------------------------
- v2: the first frame is ``{"type": "hello", "protocol": 2, "timestamp": ISO}``.
- ``subscribe``/``unsubscribe`` with ``project_id``: tracked per connection. v2 answers every
  subscribe with ``subscribed`` (epoch, offset = top, recovered) and then either the events after
  ``since`` (recovered) or a ``project.snapshot`` (not recovered: no ``since``, another epoch,
  history too short, or a malformed ``since``); a repeated subscribe is answered the same way.
- Project streams are server-wide: each project has an epoch (random, new when its history is
  lost) and numbers its events (``project.*``, ``file.*``, ``process.*``) with ``offset`` 1, 2,
  3... for every connection alike. The server keeps each project's state (data or null, files by
  path, processes running|completed with progress and message) by applying its own events; a
  ``progress`` or ``message`` an event leaves out keeps its previous value (0.0 / "" at first).
- v2 requests: any other client message with a string ``id`` is applied once and answered
  ``{"type": "ack", "id", "ok": true, "data": {"type": <its type>}}`` (or ``ok: false`` with
  ``error`` if the ack policy rejects it). An id answered within the dedup window (180 s by
  default) gets the same ``id``/``ok`` again without being applied again; rejections too.
- ``ping`` -> ``{"type": "pong", "timestamp": ISO, "id": <echoed if sent>}``.
- ``system.heartbeat`` every ``--heartbeat`` seconds on each connection.
- Demo mode: ~3 events/s per project that has at least one subscriber, through its stream (so
  with offsets and history), to every connection subscribed to it: ``project.created/updated``
  (``data``), ``file.uploaded/deleted`` (``file``: name, path, size, asset_type), and
  ``process.started -> process.progress (0..1, "Rendering frame 12/40") -> process.completed``.
- Every client frame is recorded (text, or ``<binary N bytes>``) with its arrival time; bad frames
  are recorded and otherwise ignored.

Authentication (v3, with ``--auth``)
------------------------------------
- ``POST /auth/token`` (same origin as the page and ``/ws``; no body needed) answers ``200
  {"token": "<random>", "expires_in": <token lifetime, s>}`` with ``Cache-Control: no-store``.
  Tokens live in memory: a restart forgets them all. While auth is off it answers 404 (JSON
  ``error``).
- The client's first frame must be ``{"type": "auth", "token": "<token>"}``. A valid token is
  answered ``{"type": "auth.ok", "expires_in": <seconds the token has left, 3 decimals>,
  "timestamp": ISO}``, then (v2) ``hello``; heartbeats start then too. Before ``auth.ok`` the
  server sends nothing else (``hello`` excepted with ``--hello-before-auth``).
- Refusals close the socket: an unknown (or non-string) token: ``4401 "invalid token"``; an
  expired one: ``4401 "token expired"``; any other first frame (a subscribe, a ping, non-JSON,
  binary), or a second ``auth`` frame while the first awaits its ``auth.ok``: ``4401 "auth
  required"``.
- Another ``auth`` frame after ``auth.ok`` is a refresh: a valid token gets a new ``auth.ok``
  (its ``expires_in``) and nothing else changes (subscriptions, streams, acks carry on); a bad
  one closes as above. A connection whose token runs out without a refresh is closed with
  ``4401 "token expired"``.
- v1 and v2 work as without auth once ``auth.ok`` is sent (v1: no ``hello``).
- Token times are real time (``time.monotonic()``), not the injected ``clock``: tests use short
  lifetimes (e.g. 0.3 s) and wait for the close, they never sleep.

Python control API (tests)
--------------------------
``ServerThread(root=None, host="127.0.0.1", port=0, call_timeout=30.0, **options)`` runs the app
in a background thread; use it as a context manager or ``.start()``/``.stop()``. ``.url``,
``.ws_url``, ``.token_url``, ``.port``. ``options`` are ``MockServer``'s: ``demo=False,
heartbeat=3.0, seed=None, v1=False, history_size=10_000, history_age=180.0, dedup_window=None,
clock=time.monotonic, auth=False, token_lifetime=60.0, hello_before_auth=False``. ``clock``
(called on the server thread) times the history and the dedup window, so tests can make time
pass without sleeping; ``dedup_window`` defaults to, and may not be shorter than,
``history_age``.

Every lever below is a method of one of the server's parts, marked ``@lever``
(``server/levers.py``); ``srv.<lever>(...)`` runs it on the server loop and returns its result
(thread-safe), and ``srv.call(fn, *args, **kwargs)`` does the same for any function or coroutine
function. In-loop code calls the same names on ``MockServer`` (coroutines where marked async).

Faults (``server/faults.py``):

- ``drop()`` - abort every open connection (TCP reset, no close frame; the browser sees 1006).
- ``close(code=1000, reason="")`` - close every open connection with that code and reason.
- ``silence(on=True)`` - stop reading and writing (no heartbeats, pongs, events or sent frames) on
  current and new connections while TCP stays open; ``silence(False)`` resumes (a connection
  opened while silent gets its hello first). Events made meanwhile still enter the history.
- ``refuse(on=True, seconds=None, count=None, mode="503")`` - refuse upgrades for ``seconds``, for
  the next ``count`` attempts, or until ``refuse(False)``; ``mode="abort"`` resets the TCP
  connection instead of answering 503. Each refused attempt is recorded.
- ``flap(on=True, code=1001, reason="flap", count=None)`` - accept each new connection and close it
  right after the handshake (``code=None``: abort instead).
- ``send(text=None, binary=None, size=None, as_binary=False, repeat=1, connection=None)`` - raw
  frames of any size; ``size`` generates a JSON text frame of exactly that many bytes (or binary).
- ``burst(frames, connection=None, count=1)`` - ``frames`` x ``count`` written as fast as the socket
  takes them (pre-encoded frames straight to the transport).
- ``flood(text, count, rate=None, connection=None)`` - ``count`` copies, unpaced or at ``rate``/s.
- ``reject_auth(on=True, code=4401, reason=None, count=1)`` - close the connection of each of the
  next ``count`` auth frames (first or refresh) with ``code`` whatever the token; ``reason``
  defaults to "invalid token" (4401) or "forbidden" (4403).
- ``delay_auth_ok(seconds)`` - answer each auth frame that late (0 = at once), e.g. to exceed the
  client's ``connect_timeout``.
- ``token_endpoint(mode="ok", count=None)`` - ``"fail"``: ``POST /auth/token`` answers 503;
  ``"hang"``: it does not answer until ``token_endpoint("ok")`` (then the hung requests get
  tokens); for the next ``count`` requests or until changed.

Authentication (``server/auth.py``):

- ``set_auth(on)`` - ask for authentication on connections opened from now on (open ones keep
  theirs); ``set_token_lifetime(seconds)`` - for tokens issued from now on;
  ``set_hello_before_auth(on)``.
- ``issue_token(lifetime=None) -> str`` - a valid token, as the endpoint would issue.
- ``forget_tokens() -> int`` - forget every token, as a restart would (auth frames carrying one,
  refreshes included, get 4401 "invalid token"; open connections run until their token's time is
  up); returns how many were still valid.
- ``tokens_issued() -> list[str]`` - every token issued since the last reset or forget.

Protocol and streams (``server/protocol.py``, ``server/demo.py``):

- ``set_demo(on)``, ``set_heartbeat(seconds)``.
- ``set_v1(on)`` - v1 (True) or v2 for connections opened from now on (open ones keep theirs).
- ``emit(project_id, type, **fields) -> dict`` - one project event through its stream (offset
  assigned, applied to the state, kept in history, sent to subscribers); returns it as sent.
  Raises ValueError if the state cannot apply it (e.g. ``file.*`` without ``file.path``).
- ``emit_many(project_id, n) -> list[dict]`` - ``n`` events of the demo's mix.
- ``project_state(project_id) -> {"data", "files": {path: file}, "processes": {id: {status,
  progress, message}}}`` - the authoritative state, to compare with the client's stores.
- ``position(project_id) -> (epoch, offset)``; ``history(project_id) -> list[dict]`` (the events
  a ``since`` can still recover).
- ``new_epoch(project_id=None, reset_offset=False)`` - lose the history (all projects if None)
  under a new epoch, as a restart would; the state stays (snapshots come from it) and offsets
  carry on unless ``reset_offset``.
- ``trim_history(project_id, keep=0)`` - keep only the newest ``keep`` events.
- ``ack_policy(fn | None)`` - ``fn(message)`` (on the server thread, once per new id) returns
  None (ack ok), an error text (ack ok: false) or ``server.HOLD`` (never ack; neither applied nor
  remembered, so a retry asks again); None restores accept-all. A policy that raises rejects.
- ``applied() -> list[Applied(id, message, t)]``; ``acks_sent() -> list[SentAck(t,
  connection_id, ack, repeat)]``; ``wait_for_applied(count, timeout=5.0)``.

The whole (``server/mock.py``):

- ``reset()`` - modes off, connections aborted, history cleared; streams, acks, applied, tokens
  and the ack policy forgotten; the constructor's settings again (v1, auth, token lifetime...).
- ``snapshot()`` -> ``Snapshot(connections, attempts, modes, now, token_requests)``;
  ``connections()``. Each ``ConnectionInfo`` has id, opened_at, closed_at, close_code,
  close_reason, closed_by, remote, query, subscriptions, frames (``Frame(t, kind, text, size)``),
  sent (frames written), sent_bytes, protocol (1|2), auth_required, authenticated,
  auth_expires_at, tokens (of every auth frame, in order) and ``auth_frames``. Each ``Attempt``
  has t, outcome (accepted | refused | flapped), connection_id; each ``TokenRequest`` t and
  outcome (issued | failed | hung). Counters on ``Snapshot``: ``sockets_opened`` (since reset),
  ``sockets_open`` (now), ``frames_sent``, ``bytes_sent``, ``auth_frames``, ``tokens_received``.
  ``modes`` holds every setting and fault mode (``auth``, ``token_lifetime``, ``silent``...).
  Times are ``time.monotonic()``.
- ``wait_for(predicate, timeout=5.0)`` plus ``wait_for_connections(n)``, ``wait_for_open(n)``,
  ``wait_for_attempts(n)``, ``wait_for_frame(match_or_type, connection=None)``; on timeout they
  raise ``WaitTimeout`` (a ``TimeoutError`` carrying ``.snapshot``).

In-loop code can use ``MockServer`` (same constructor options and levers, coroutines where they
do I/O: ``close``, ``send``, ``burst``, ``flood``, ``wait_for``) with ``create_app(server,
root)``. ``tests/server/wsutil.py`` has small aiohttp-client helpers (``connect``, ``subscribe``,
``fence``, ``recv_json``, ``recv_type``, ``collect``, ``send_json``, ``nothing_for``,
``fetch_token``, ``authenticate``, ``recv_close``).
"""

from .acks import HOLD, AckPolicy
from .app import create_app
from .auth import token_digest
from .mock import MockServer, WaitTimeout
from .records import Applied, Attempt, ConnectionInfo, Frame, SentAck, Snapshot, TokenRequest
from .thread import ServerThread

__all__ = [
    "HOLD",
    "AckPolicy",
    "Applied",
    "Attempt",
    "ConnectionInfo",
    "Frame",
    "MockServer",
    "SentAck",
    "ServerThread",
    "Snapshot",
    "TokenRequest",
    "WaitTimeout",
    "create_app",
    "token_digest",
]
