"""The fault levers: what tests do to the network, the server and the authentication.

`Faults` owns every fault mode (silence, refusal, flapping, auth rejections and delays, a failing
token endpoint) and the levers that act on open sockets at once (drop, close, raw frames). The
protocol (`server.protocol`) asks it at each decision point, e.g. `take_refusal()` before an
upgrade; nothing here knows the protocol's frames beyond what a lever writes raw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from .connections import Connection, Connections, abort, iso_now
from .levers import lever, unbounded_lever

RefuseMode = Literal["503", "abort"]
TokenEndpointMode = Literal["ok", "fail", "hang"]

# Raw burst writes stop adding to the socket buffer above this and wait for it to drain, so a
# flood to a slow reader cannot eat all memory.
_HIGH_WATER = 4 * 1024 * 1024
_LOW_WATER = 1 * 1024 * 1024
_CHUNK = 256 * 1024

#: The close reasons of the v3 rules, by code, when a test rejects an auth without giving one.
DEFAULT_AUTH_REJECT_REASONS = {4401: "invalid token", 4403: "forbidden"}


def encode_frame(payload: str | bytes) -> bytes:
    """Encode one unmasked, unfragmented server->client frame (RFC 6455 section 5.2).

    Used by burst(): pre-encoding once and writing many copies straight to the transport is
    an order of magnitude faster than one send_str() coroutine per frame.
    """
    if isinstance(payload, str):
        data, opcode = payload.encode(), 0x1
    else:
        data, opcode = payload, 0x2
    n = len(data)
    if n < 126:
        header = bytes((0x80 | opcode, n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big")
    return header + data


def generated_text(size: int, type_: str = "test.large") -> str:
    """A JSON message of exactly `size` bytes (ASCII), or plain filler if `size` is too small."""
    skeleton = json.dumps({"type": type_, "timestamp": iso_now(), "padding": ""})
    if size < len(skeleton):
        return "x" * size
    return skeleton[:-2] + "x" * (size - len(skeleton)) + '"}'


def generated_binary(size: int) -> bytes:
    pattern = bytes(range(256))
    return (pattern * (size // 256 + 1))[:size]


def sendable_close_code(code: int) -> bool:
    """Codes a close frame may carry; 1005/1006/1015 are for local reporting only (RFC 6455
    7.4.1), and a peer must fail on them."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def _check_close(code: int, reason: str) -> None:
    if not sendable_close_code(code):
        raise ValueError(f"close code {code} may not be sent in a close frame; use 1000-4999")
    if len(reason.encode()) > 123:
        raise ValueError("close reason must be at most 123 bytes of UTF-8")


class Faults:
    """Fault modes and the levers that set them or act on open sockets."""

    def __init__(self, conns: Connections, resume: Callable[[Connection], None]) -> None:
        """`resume(conn)` runs when silence ends on `conn`, before reading resumes (the
        protocol sends a hello it held back)."""
        self._conns = conns
        self._resume = resume
        self._token_released: asyncio.Event | None = None
        self._resets = 0
        self.reset()

    def reset(self) -> None:
        """Every mode off; hung token requests are answered (with an error)."""
        self._resets += 1
        self._release_tokens()
        self.silent = False
        self._refuse_until: float | None = None  # monotonic deadline; inf = until turned off
        self._refuse_left: int | None = None  # refuse only this many more attempts
        self._refuse_mode: RefuseMode = "503"
        self._flap = False
        self._flap_left: int | None = None
        self._flap_code: int | None = 1001
        self._flap_reason = "flap"
        self._auth_reject: tuple[int, str] | None = None
        self._auth_reject_left = 0
        self.auth_delay = 0.0
        self._token_mode: TokenEndpointMode = "ok"
        self._token_left: int | None = None

    # ------------------------------------------------------------------ asked by the protocol

    def take_refusal(self, now: float) -> RefuseMode | None:
        """How to refuse this upgrade attempt, or None to accept it (uses up one of `count`)."""
        if not self._refusing(now):
            return None
        if self._refuse_left is not None:
            self._refuse_left -= 1
        return self._refuse_mode

    def take_flap(self) -> tuple[int | None, str] | None:
        """(code, reason) to close this new connection with (code None: abort), or None."""
        if not self._flap:
            return None
        if self._flap_left is not None:
            self._flap_left -= 1
            if self._flap_left <= 0:
                self._flap = False
                self._flap_left = None
        return self._flap_code, self._flap_reason

    def take_auth_rejection(self) -> tuple[int, str] | None:
        """(code, reason) to refuse this auth frame with, whatever its token, or None."""
        if self._auth_reject is None or self._auth_reject_left <= 0:
            return None
        self._auth_reject_left -= 1
        return self._auth_reject

    def take_token_fault(self) -> Literal["fail", "hang"] | None:
        """What the token endpoint does with this request instead of issuing a token."""
        if self._token_mode == "ok":
            return None
        mode = self._token_mode
        if self._token_left is not None:
            self._token_left -= 1
            if self._token_left <= 0:
                self._token_mode, self._token_left = "ok", None
        return mode

    async def token_released(self) -> bool:
        """Returns when a hung token request may be answered: True after
        `token_endpoint("ok")`, False after a reset (no token then)."""
        resets = self._resets
        if self._token_released is None:
            self._token_released = asyncio.Event()
        await self._token_released.wait()
        return self._resets == resets

    def go_silent(self, conn: Connection) -> None:
        conn.silent = True
        if conn.transport is not None:
            with contextlib.suppress(RuntimeError, AttributeError):
                conn.transport.pause_reading()

    def modes(self, now: float) -> dict[str, Any]:
        refusing = self._refusing(now)
        return {
            "silent": self.silent,
            "refusing": refusing,
            "refuse_mode": self._refuse_mode,
            # None when not refusing or refusing until turned off (inf is not valid JSON).
            "refuse_seconds_left": (
                max(0.0, self._refuse_until - now)
                if refusing
                and self._refuse_until is not None
                and self._refuse_until != float("inf")
                else None
            ),
            "refuse_left": self._refuse_left,
            "flap": self._flap,
            "flap_left": self._flap_left,
            "auth_reject": self._auth_reject if self._auth_reject_left > 0 else None,
            "auth_reject_left": self._auth_reject_left,
            "auth_delay": self.auth_delay,
            "token_endpoint": self._token_mode,
        }

    def _refusing(self, now: float) -> bool:
        if self._refuse_until is None or now >= self._refuse_until:
            return False
        return self._refuse_left is None or self._refuse_left > 0

    def _release_tokens(self) -> None:
        if self._token_released is not None:
            self._token_released.set()
            self._token_released = None

    # ------------------------------------------------------------------ levers: the network

    @lever
    def drop(self) -> int:
        """Abort every open connection: no close frame, TCP reset. Returns how many."""
        conns = self._conns.open()
        for c in conns:
            c.mark_closed("drop", 1006)
            if c.transport is not None:
                abort(c.transport)
        return len(conns)

    @lever
    async def close(self, code: int = 1000, reason: str = "") -> int:
        """Close every open connection with a close frame carrying `code` and `reason`."""
        _check_close(code, reason)
        conns = self._conns.open()
        await asyncio.gather(*(c.close("server", code, reason) for c in conns))
        return len(conns)

    @lever
    def silence(self, on: bool = True) -> int:
        """Stop reading and writing on current and future connections (TCP stays open)."""
        self.silent = on
        conns = self._conns.open()
        for c in conns:
            if on:
                self.go_silent(c)
            else:
                c.silent = False
                self._resume(c)  # before reading resumes: hello stays the first frame
                if c.transport is not None:
                    with contextlib.suppress(RuntimeError, AttributeError):
                        c.transport.resume_reading()
        return len(conns)

    @lever
    def refuse(
        self,
        on: bool = True,
        seconds: float | None = None,
        count: int | None = None,
        mode: RefuseMode = "503",
    ) -> None:
        """Refuse new connections: for `seconds`, for the next `count` attempts, or until off."""
        if mode not in ("503", "abort"):
            raise ValueError("mode must be '503' or 'abort'")
        if not on:
            self._refuse_until = None
            self._refuse_left = None
            return
        self._refuse_mode = mode
        self._refuse_until = float("inf") if seconds is None else time.monotonic() + seconds
        self._refuse_left = count

    @lever
    def flap(
        self,
        on: bool = True,
        code: int | None = 1001,
        reason: str = "flap",
        count: int | None = None,
    ) -> None:
        """Accept each new connection and close it right after the handshake.

        `code=None` aborts the TCP connection instead (client sees 1006). `count` limits it to
        the next N connections.
        """
        if code is not None:
            _check_close(code, reason)
        self._flap = on
        self._flap_code = code
        self._flap_reason = reason
        self._flap_left = count if on else None

    # ------------------------------------------------------------------ levers: raw frames

    @lever
    async def send(
        self,
        text: str | None = None,
        binary: bytes | None = None,
        size: int | None = None,
        as_binary: bool = False,
        repeat: int = 1,
        connection: int | None = None,
        payload_type: str = "test.large",
    ) -> int:
        """Send raw frames through aiohttp's writer. Returns frames written in total.

        Exactly one of `text`, `binary`, `size` (generated: JSON text of exactly `size` bytes,
        or `size` bytes of binary with `as_binary`).
        """
        given = sum(x is not None for x in (text, binary, size))
        if given != 1:
            raise ValueError("give exactly one of text, binary, size")
        payload: str | bytes
        if text is not None:
            payload = text
        elif binary is not None:
            payload = binary
        else:
            assert size is not None
            payload = generated_binary(size) if as_binary else generated_text(size, payload_type)
        n_bytes = len(payload.encode()) if isinstance(payload, str) else len(payload)
        total = 0
        for c in self._conns.targets(connection):
            for _ in range(repeat):
                if c.silent or not c.is_open or c.ws.closed:
                    break
                try:
                    if isinstance(payload, str):
                        await c.ws.send_str(payload)
                    else:
                        await c.ws.send_bytes(payload)
                except (ConnectionError, RuntimeError):
                    break
                c.count_sent(1, n_bytes)
                total += 1
        return total

    @lever
    async def burst(
        self, frames: Sequence[str | bytes], connection: int | None = None, count: int = 1
    ) -> int:
        """Write `frames` (repeated `count` times) to every target as fast as the socket takes.

        Frames are pre-encoded and written straight to the transport in large chunks; only the
        socket buffer's high-water mark throttles it. Returns frames written in total.
        """
        block = b"".join(encode_frame(f) for f in frames)
        if not block or count <= 0:
            return 0
        per_chunk = max(1, _CHUNK // len(block))
        n_frames = len(frames)
        payload_bytes = sum(len(f.encode()) if isinstance(f, str) else len(f) for f in frames)

        async def one(c: Connection) -> int:
            transport = c.transport
            if transport is None:
                return 0
            chunk = block * per_chunk
            left = count
            written = 0
            while left > 0 and c.is_open and not c.silent and not transport.is_closing():
                k = min(per_chunk, left)
                transport.write(chunk if k == per_chunk else block * k)
                left -= k
                written += k * n_frames
                c.count_sent(k * n_frames, k * payload_bytes)
                if transport.get_write_buffer_size() > _HIGH_WATER:
                    await _wait_drained(transport)
                else:
                    await asyncio.sleep(0)  # let reads/heartbeats/other controls run
            return written

        results = await asyncio.gather(*(one(c) for c in self._conns.targets(connection)))
        return sum(results)

    @unbounded_lever
    async def flood(
        self,
        text: str,
        count: int,
        rate: float | None = None,
        connection: int | None = None,
    ) -> int:
        """Send `count` copies of `text`; as fast as possible, or paced at `rate` frames/s.

        Pacing tops up in small batches every few ms against the ideal schedule, so the average
        rate is exact even though the loop's sleep granularity is coarse.
        """
        if rate is None or rate <= 0:
            return await self.burst([text], connection=connection, count=count)
        start = time.monotonic()
        done = 0
        while done < count:
            due = min(count, int((time.monotonic() - start) * rate) + 1)
            if due > done:
                await self.burst([text], connection=connection, count=due - done)
                done = due
            await asyncio.sleep(
                min(0.005, max(0.0, (done - (time.monotonic() - start) * rate) / rate))
            )
        return done

    # ------------------------------------------------------------------ levers: authentication

    @lever
    def reject_auth(
        self, on: bool = True, code: int = 4401, reason: str | None = None, count: int = 1
    ) -> None:
        """Close the connection of each of the next `count` auth frames (first or refresh)
        with `code` (4401, 4403, ...) whatever its token; `reason` defaults to "invalid token"
        for 4401, "forbidden" for 4403. `on=False` cancels what is left."""
        reason = DEFAULT_AUTH_REJECT_REASONS.get(code, "rejected") if reason is None else reason
        _check_close(code, reason)
        if count < 1:
            raise ValueError("count must be at least 1 (turn it off with on=False)")
        self._auth_reject = (code, reason) if on else None
        self._auth_reject_left = count if on else 0

    @lever
    def delay_auth_ok(self, seconds: float) -> None:
        """Answer each auth frame `seconds` late (0: at once), e.g. past the client's timeout."""
        if seconds < 0:
            raise ValueError("the delay must not be negative")
        self.auth_delay = seconds

    @lever
    def token_endpoint(self, mode: TokenEndpointMode = "ok", count: int | None = None) -> None:
        """How `POST /auth/token` answers: "ok" (a token), "fail" (HTTP 503) or "hang" (no
        answer until `token_endpoint("ok")`, which then answers the hung requests with tokens),
        for the next `count` requests or until changed."""
        if mode not in ("ok", "fail", "hang"):
            raise ValueError("mode must be 'ok', 'fail' or 'hang'")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1, or None for every request")
        self._token_mode = mode
        self._token_left = None if mode == "ok" else count
        if mode == "ok":
            self._release_tokens()


async def _wait_drained(transport: asyncio.WriteTransport) -> None:
    # Polling keeps us on public transport API (aiohttp's drain helper is private).
    while transport.get_write_buffer_size() > _LOW_WATER and not transport.is_closing():
        await asyncio.sleep(0.001)
