"""Application assembly and a small async runner shared by the CLI and ServerThread."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from .auth import TOKEN_PATH
from .mock import MockServer
from .static import make_static_handler

DEFAULT_ROOT = Path(__file__).resolve().parent.parent  # the repo root

SERVER_KEY = web.AppKey("mock_server", MockServer)


def create_app(server: MockServer | None = None, root: Path | str | None = None) -> web.Application:
    """Build the app: /ws, the token endpoint, and static files from `root` at /."""
    server = server or MockServer()
    app = web.Application()
    app[SERVER_KEY] = server
    # Order matters: the catch-all static route must come last.
    app.router.add_get("/ws", server.handle_ws)
    app.router.add_post(TOKEN_PATH, server.handle_token)
    app.router.add_get("/{path:.*}", make_static_handler(Path(root or DEFAULT_ROOT)))
    app.on_startup.append(server.startup)
    app.on_shutdown.append(server.shutdown)
    return app


async def start(
    app: web.Application, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, int]:
    """Start serving `app`; returns the runner and the real port (useful with port 0)."""
    # Short shutdown timeout: handlers are long-lived WebSockets which on_shutdown closes anyway.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    real_port = int(runner.addresses[0][1])
    return runner, real_port
