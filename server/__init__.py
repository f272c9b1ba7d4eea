"""Mock/demo backend for the WebSocket client: static files + `/ws` + fault-injection controls.

It speaks the wire protocol of docs/protocol.md (v2 by default, v1 on request) and doubles as the
e2e test backend.

Command line
------------
    python -m server [--host 127.0.0.1] [--port 8000] [--root DIR] [--demo | --no-demo]
                     [--heartbeat SECONDS] [--v1] [--history-size N] [--history-age SECONDS]

- ``--host``/``--port``: bind address (default 127.0.0.1:8000); ``--port 0`` picks a free port.
- ``--root``: directory served at ``/`` (default: the repo root). ``/`` serves ``index.html``;
  directories serve their ``index.html`` or 404 (no listings); dot-paths (.git, .venv) are hidden.
- ``--demo/--no-demo``: demo events for subscribed projects (default on).
- ``--heartbeat``: ``system.heartbeat`` period per connection in seconds (default 3; 0 = off).
- ``--v1``: speak protocol v1 exactly (no hello, offsets, subscribed, snapshots or acks).
- ``--history-size``/``--history-age``: per-project history kept for recovery (default 10,000
  events and 180 s, enough for a 2-minute outage of a busy project). The ack dedup window equals
  the history age.

When ready it prints one line, ``Serving demo at http://127.0.0.1:<port>/``, and flushes.

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

Python control API (tests)
--------------------------
``ServerThread(root=None, demo=False, heartbeat=3.0, host="127.0.0.1", port=0, call_timeout=30.0,
v1=False, history_size=10_000, history_age=180.0, dedup_window=None, clock=time.monotonic)`` runs
the app in a background thread; use it as a context manager or ``.start()``/``.stop()``. ``.url``,
``.ws_url``, ``.port``. ``clock`` (called on the server thread) times the history and the dedup
window, so tests can make time pass without sleeping; ``dedup_window`` defaults to, and may not
be shorter than, ``history_age``. Thread-safe controls:

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
- ``reset()`` - modes off, connections aborted, history cleared; streams, acks, applied and the
  ack policy forgotten; v2 again unless created with ``v1=True``.
- ``snapshot()`` -> ``Snapshot(connections, attempts, modes, now)``; ``connections()``. Each
  ``ConnectionInfo`` has id, opened_at, closed_at, close_code, close_reason, closed_by, remote,
  subscriptions, frames (``Frame(t, kind, text, size)``), sent, protocol (1|2). Each ``Attempt``
  has t, outcome (accepted | refused | flapped), connection_id. Times are ``time.monotonic()``.
- ``wait_for(predicate, timeout=5.0)`` plus ``wait_for_connections(n)``, ``wait_for_open(n)``,
  ``wait_for_attempts(n)``, ``wait_for_frame(match_or_type, connection=None)``; on timeout they
  raise ``WaitTimeout`` (a ``TimeoutError`` carrying ``.snapshot``).

In-loop code can use ``MockServer`` (same constructor options and controls, coroutines where they
do I/O: ``close``, ``send``, ``burst``, ``flood``, ``wait_for``) with ``create_app(server,
root)``. ``tests/server/wsutil.py`` has small aiohttp-client helpers (``connect``, ``subscribe``,
``fence``, ``recv_json``, ``recv_type``, ``collect``, ``send_json``, ``nothing_for``).
"""

from .acks import HOLD, AckPolicy
from .app import create_app
from .core import MockServer, WaitTimeout
from .records import Applied, Attempt, ConnectionInfo, Frame, SentAck, Snapshot
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
    "WaitTimeout",
    "create_app",
]
