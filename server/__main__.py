"""`python -m server`: serve the demo page and the mock WebSocket backend."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from .app import DEFAULT_ROOT, create_app, start
from .auth import DEFAULT_TOKEN_LIFETIME
from .mock import MockServer
from .streams import DEFAULT_HISTORY_AGE, DEFAULT_HISTORY_SIZE


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m server", description="Demo page + mock WebSocket backend."
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one (default 8000)")
    p.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="static root (default: repo)")
    p.add_argument(
        "--demo",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="emit demo events for subscribed projects (default on)",
    )
    p.add_argument(
        "--heartbeat", type=float, default=3.0, help="system.heartbeat period in s; 0 disables"
    )
    p.add_argument(
        "--v1",
        action="store_true",
        help="speak protocol v1 only: no hello, offsets, subscribed, snapshots or acks",
    )
    p.add_argument(
        "--history-size",
        type=int,
        default=DEFAULT_HISTORY_SIZE,
        help=f"events kept per project for recovery (default {DEFAULT_HISTORY_SIZE})",
    )
    p.add_argument(
        "--history-age",
        type=float,
        default=DEFAULT_HISTORY_AGE,
        help=f"seconds an event stays recoverable; also the ack dedup window "
        f"(default {DEFAULT_HISTORY_AGE:g})",
    )
    p.add_argument(
        "--auth",
        action="store_true",
        help="protocol v3: ask for a token (POST /auth/token issues one) as the first frame",
    )
    p.add_argument(
        "--token-lifetime",
        type=_positive_seconds,
        default=DEFAULT_TOKEN_LIFETIME,
        help=f"seconds a token stays valid, fractions allowed (default {DEFAULT_TOKEN_LIFETIME:g})",
    )
    p.add_argument(
        "--hello-before-auth",
        action="store_true",
        help="with --auth, send v2's hello right after the upgrade instead of after auth.ok",
    )
    return p.parse_args(argv)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, not {text!r}")
    return value


async def serve(args: argparse.Namespace) -> None:
    server = MockServer(
        demo=args.demo,
        heartbeat=args.heartbeat,
        v1=args.v1,
        history_size=args.history_size,
        history_age=args.history_age,
        auth=args.auth,
        token_lifetime=args.token_lifetime,
        hello_before_auth=args.hello_before_auth,
    )
    app = create_app(server, args.root)
    runner, port = await start(app, args.host, args.port)
    host = f"[{args.host}]" if ":" in args.host else args.host
    # One line, flushed: harnesses wait for it and parse the URL (the real port when --port 0).
    # With --auth the address asks the demo page for its token provider (demo/auth.js).
    query = "?auth=1" if args.auth else ""
    print(f"Serving demo at http://{host}:{port}/{query}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # One line per connection that authenticates or is refused (tokens appear as digests only).
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if not args.root.is_dir():
        print(f"--root {args.root} is not a directory", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
