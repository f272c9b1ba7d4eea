"""Mock/demo backend for the WebSocket client: static files + `/ws` + fault-injection controls.

It speaks the wire protocol of docs/protocol.md (JSON text frames) and doubles as the e2e
test backend.

Command line
------------
    python -m server [--host 127.0.0.1] [--port 8000] [--root DIR] [--demo | --no-demo]
                     [--heartbeat SECONDS]

- ``--host``/``--port``: bind address (default 127.0.0.1:8000); ``--port 0`` picks a free port.
- ``--root``: directory served at ``/`` (default: the repo root). ``/`` serves ``index.html``;
  directories serve their ``index.html`` or 404 (no listings); dot-paths (.git, .venv) are hidden.
- ``--demo/--no-demo``: demo events for subscribed projects (default on).
- ``--heartbeat``: ``system.heartbeat`` period per connection in seconds (default 3; 0 = off).

When ready it prints one line, ``Serving demo at http://127.0.0.1:<port>/``, and flushes.

WebSocket endpoint ``/ws``
--------------------------
- ``subscribe``/``unsubscribe`` with ``project_id``: tracked per connection.
- ``ping`` -> ``{"type": "pong", "timestamp": ISO, "id": <echoed if sent>}``.
- ``system.heartbeat`` every ``--heartbeat`` seconds on each connection.
- Demo mode: ~3 events/s per subscribed project: ``project.created/updated`` (``data``),
  ``file.uploaded/deleted`` (``file``: name, path, size, asset_type), and
  ``process.started -> process.progress (0..1, "Rendering frame 12/40") -> process.completed``.
- Every client frame is recorded (text, or ``<binary N bytes>``) with its arrival time; bad frames
  are recorded and otherwise ignored.

Python control API (tests)
--------------------------
``ServerThread(root=None, demo=False, heartbeat=3.0)`` runs the app on 127.0.0.1:<free port> in a
background thread; use it as a context manager or ``.start()``/``.stop()``. ``.url``, ``.ws_url``,
``.port``. Thread-safe controls:

- ``drop()`` - abort every open connection (TCP reset, no close frame; the browser sees 1006).
- ``close(code=1000, reason="")`` - close every open connection with that code and reason.
- ``silence(on=True)`` - stop reading and writing (no heartbeats, pongs, demo or sent frames) on
  current and new connections while TCP stays open; ``silence(False)`` resumes.
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
- ``set_demo(on)``, ``set_heartbeat(seconds)``, ``reset()`` (modes off, connections aborted,
  history cleared).
- ``snapshot()`` -> ``Snapshot(connections, attempts, modes, now)``; ``connections()``. Each
  ``ConnectionInfo`` has id, opened_at, closed_at, close_code, close_reason, closed_by, remote,
  subscriptions, frames (``Frame(t, kind, text, size)``), sent. Each ``Attempt`` has t,
  outcome (accepted | refused | flapped), connection_id. Times are ``time.monotonic()``.
- ``wait_for(predicate, timeout=5.0)`` plus ``wait_for_connections(n)``, ``wait_for_open(n)``,
  ``wait_for_attempts(n)``, ``wait_for_frame(match_or_type, connection=None)``; on timeout they
  raise ``WaitTimeout`` (a ``TimeoutError`` carrying ``.snapshot``).

In-loop code can use ``MockServer`` (same methods, coroutines where they do I/O) with
``create_app(server, root)``. ``tests/server/wsutil.py`` has small aiohttp-client helpers
(``recv_json``, ``recv_type``, ``collect``, ``send_json``, ``nothing_for``).
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
