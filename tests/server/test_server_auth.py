"""Protocol v3 on the reference server: tokens, the auth handshake, refresh, expiry, levers."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from server import ServerThread, token_digest
from server.__main__ import parse_args
from tests.server.test_server_http import REPO
from tests.server.wsutil import (
    authenticate,
    fetch_token,
    nothing_for,
    recv_close,
    recv_json,
    recv_type,
    send_json,
    subscribe,
)


@pytest.fixture()
def asrv(srv: ServerThread) -> Iterator[ServerThread]:
    """The session server asking for authentication (reset() turns it off again)."""
    srv.set_auth(True)
    yield srv


async def _token_status(session: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, str]]:
    async with session.post(url + "auth/token") as r:
        return r.status, await r.json()


# ---------------------------------------------------------------------- the token endpoint


def test_token_endpoint_issues_a_token_with_the_configured_lifetime(asrv: ServerThread) -> None:
    asrv.set_token_lifetime(2.5)

    async def main() -> None:
        async with aiohttp.ClientSession() as s, s.post(asrv.token_url) as r:
            assert r.status == 200
            assert r.headers["Cache-Control"] == "no-store"
            body = await r.json()
        assert body["expires_in"] == 2.5
        assert isinstance(body["token"], str) and len(body["token"]) >= 20
        assert asrv.tokens_issued() == [body["token"]]

    asyncio.run(main())
    assert [r.outcome for r in asrv.snapshot().token_requests] == ["issued"]


def test_token_endpoint_is_404_while_auth_is_off(srv: ServerThread) -> None:
    async def main() -> tuple[int, dict[str, str]]:
        async with aiohttp.ClientSession() as s:
            return await _token_status(s, srv.url)

    status, body = asyncio.run(main())
    assert status == 404 and "--auth" in body["error"]


def test_token_endpoint_fail_lever_answers_503_then_recovers(asrv: ServerThread) -> None:
    asrv.token_endpoint("fail", count=1)

    async def main() -> list[int]:
        async with aiohttp.ClientSession() as s:
            return [(await _token_status(s, asrv.url))[0] for _ in range(2)]

    assert asyncio.run(main()) == [503, 200]
    assert [r.outcome for r in asrv.snapshot().token_requests] == ["failed", "issued"]


def test_token_endpoint_hang_lever_answers_only_when_released(asrv: ServerThread) -> None:
    asrv.token_endpoint("hang")

    async def main() -> None:
        async with aiohttp.ClientSession() as s:
            request = asyncio.create_task(fetch_token(s, asrv.url))
            await asyncio.to_thread(asrv.wait_for, lambda snap: len(snap.token_requests) == 1)
            assert not request.done()
            await asyncio.to_thread(asrv.token_endpoint, "ok")
            body = await asyncio.wait_for(request, 2)
            assert body["token"] in asrv.tokens_issued()

    asyncio.run(main())
    assert [r.outcome for r in asrv.snapshot().token_requests] == ["hung"]


def test_reset_answers_a_hung_token_request_with_an_error(asrv: ServerThread) -> None:
    asrv.token_endpoint("hang")

    async def main() -> int:
        async with aiohttp.ClientSession() as s:
            request = asyncio.create_task(_token_status(s, asrv.url))
            await asyncio.to_thread(asrv.wait_for, lambda snap: len(snap.token_requests) == 1)
            await asyncio.to_thread(asrv.reset)
            status, _ = await asyncio.wait_for(request, 2)
            return status

    assert asyncio.run(main()) == 503
    assert asrv.tokens_issued() == []


# ---------------------------------------------------------------------- the handshake


def test_valid_token_gets_auth_ok_then_hello(asrv: ServerThread) -> None:
    """Default order: auth.ok (with the token's time left) first, then v2's hello."""
    asrv.set_token_lifetime(30)

    async def main() -> None:
        async with aiohttp.ClientSession() as s:
            token = (await fetch_token(s, asrv.url))["token"]
            async with s.ws_connect(asrv.ws_url) as ws:
                ok = await authenticate(ws, token)
                assert 29 < ok["expires_in"] <= 30
                assert (await recv_json(ws))["type"] == "hello"

    asyncio.run(main())
    (c,) = asrv.connections()
    assert c.auth_required and c.authenticated and c.tokens == (c.tokens[0],)


def test_hello_before_auth_when_configured(asrv: ServerThread) -> None:
    asrv.set_hello_before_auth(True)

    async def main() -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(asrv.ws_url) as ws:
            assert (await recv_json(ws))["type"] == "hello"
            await authenticate(ws, asrv.issue_token())
            await send_json(ws, {"type": "ping", "id": "p"})
            assert (await recv_json(ws))["type"] == "pong"  # no second hello

    asyncio.run(main())


def test_nothing_is_sent_before_auth_ok(asrv: ServerThread) -> None:
    """No hello (by default) and no heartbeat reach a socket that has not authenticated."""
    asrv.set_heartbeat(0.05)

    async def main() -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(asrv.ws_url) as ws:
            assert await nothing_for(ws, 0.3)
            await authenticate(ws, asrv.issue_token())
            assert (await recv_json(ws))["type"] == "hello"
            await recv_type(ws, "system.heartbeat")

    asyncio.run(main())


@pytest.mark.parametrize(
    "first",
    [
        json.dumps({"type": "subscribe", "project_id": "a"}),
        json.dumps({"type": "ping"}),
        "not json",
        b"\x00binary",
    ],
    ids=["subscribe", "ping", "not-json", "binary"],
)
def test_any_other_first_frame_closes_4401_auth_required(
    asrv: ServerThread, first: str | bytes
) -> None:
    async def main() -> tuple[int, str]:
        async with aiohttp.ClientSession() as s, s.ws_connect(asrv.ws_url) as ws:
            if isinstance(first, bytes):
                await ws.send_bytes(first)
            else:
                await ws.send_str(first)
            return await recv_close(ws)

    assert asyncio.run(main()) == (4401, "auth required")
    snap = asrv.wait_for(lambda s: not s.connections[0].open)
    c = snap.connections[0]
    assert (c.closed_by, c.close_code, c.subscriptions) == ("server", 4401, ())


@pytest.mark.parametrize(
    "token", ["made-up", "", 42, None], ids=["unknown", "empty", "int", "null"]
)
def test_unknown_token_closes_4401_invalid_token(asrv: ServerThread, token: object) -> None:
    async def main() -> tuple[int, str]:
        async with aiohttp.ClientSession() as s, s.ws_connect(asrv.ws_url) as ws:
            await send_json(ws, {"type": "auth", "token": token})
            return await recv_close(ws)

    assert asyncio.run(main()) == (4401, "invalid token")
    assert asrv.snapshot().auth_frames == 1


def test_socket_whose_token_runs_out_is_closed_4401_token_expired(asrv: ServerThread) -> None:
    """Fractional lifetimes work; the close comes when the token expires, not before."""

    async def main() -> tuple[float, float, tuple[int, str]]:
        async with aiohttp.ClientSession() as s, s.ws_connect(asrv.ws_url) as ws:
            token = await asyncio.to_thread(asrv.issue_token, 0.4)
            ok = await authenticate(ws, token)
            t_ok = time.monotonic()
            close = await recv_close(ws, timeout=3)
            return ok["expires_in"], time.monotonic() - t_ok, close

    expires_in, lasted, close = asyncio.run(main())
    assert 0 < expires_in <= 0.4
    assert close == (4401, "token expired")
    assert lasted >= expires_in - 0.05


def test_expired_token_is_refused_with_token_expired(asrv: ServerThread) -> None:
    async def main() -> tuple[int, str]:
        async with aiohttp.ClientSession() as s:
            token = await asyncio.to_thread(asrv.issue_token, 0.3)
            async with s.ws_connect(asrv.ws_url) as first:
                await authenticate(first, token)
                assert await recv_close(first) == (4401, "token expired")
            async with s.ws_connect(asrv.ws_url) as second:
                await send_json(second, {"type": "auth", "token": token})
                return await recv_close(second)

    assert asyncio.run(main()) == (4401, "token expired")


# ---------------------------------------------------------------------- refresh


def test_refresh_extends_the_connection_without_reconnecting(asrv: ServerThread) -> None:
    """A second auth frame gets a new auth.ok; the socket outlives the first token and keeps
    its subscriptions and streams."""
    asrv.set_heartbeat(0.1)

    async def main() -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(asrv.ws_url) as ws:
            first = await asyncio.to_thread(asrv.issue_token, 0.5)
            await authenticate(ws, first)
            await recv_type(ws, "hello")
            await subscribe(ws, "p")
            fresh = await asyncio.to_thread(asrv.issue_token, 30)
            await send_json(ws, {"type": "auth", "token": fresh})
            ok = await recv_type(ws, "auth.ok")
            assert 29 < ok["expires_in"] <= 30
            first_expiry = time.monotonic() + 0.5
            while time.monotonic() < first_expiry + 0.3:  # heartbeats keep coming meanwhile
                await recv_type(ws, "system.heartbeat")
            await asyncio.to_thread(asrv.emit, "p", "project.updated", data={"n": 1})
            assert (await recv_type(ws, "project.updated"))["offset"] == 1
            (c,) = await asyncio.to_thread(asrv.connections)
            assert c.open and c.auth_frames == 2 and c.subscriptions == ("p",)

    asyncio.run(main())


def test_refresh_with_a_bad_token_closes_4401(asrv: ServerThread) -> None:
    async def main() -> tuple[int, str]:
        async with aiohttp.ClientSession() as s, s.ws_connect(asrv.ws_url) as ws:
            await authenticate(ws, await asyncio.to_thread(asrv.issue_token))
            await send_json(ws, {"type": "auth", "token": "forged"})
            return await recv_close(ws)

    assert asyncio.run(main()) == (4401, "invalid token")


def test_forget_tokens_refuses_every_earlier_token_as_a_restart_would(
    asrv: ServerThread,
) -> None:
    token = asrv.issue_token()
    assert asrv.forget_tokens() == 1
    assert asrv.tokens_issued() == []

    async def main() -> tuple[int, str]:
        async with aiohttp.ClientSession() as s, s.ws_connect(asrv.ws_url) as ws:
            await send_json(ws, {"type": "auth", "token": token})
            return await recv_close(ws)

    assert asyncio.run(main()) == (4401, "invalid token")


# ---------------------------------------------------------------------- auth levers


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [(4401, None, "invalid token"), (4403, None, "forbidden"), (4403, "banned", "banned")],
)
def test_reject_auth_closes_the_next_auth_whatever_its_token(
    asrv: ServerThread, code: int, reason: str | None, expected: str
) -> None:
    asrv.reject_auth(code=code, reason=reason)

    async def main() -> tuple[int, str]:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(asrv.ws_url) as ws:
                await send_json(ws, {"type": "auth", "token": asrv.issue_token()})
                close = await recv_close(ws)
            async with s.ws_connect(asrv.ws_url) as ws:  # only the next one (count=1)
                await authenticate(ws, await asyncio.to_thread(asrv.issue_token))
            return close

    assert asyncio.run(main()) == (code, expected)


def test_delay_auth_ok_holds_the_answer(asrv: ServerThread) -> None:
    asrv.delay_auth_ok(0.3)

    async def main() -> float:
        async with aiohttp.ClientSession() as s, s.ws_connect(asrv.ws_url) as ws:
            token = await asyncio.to_thread(asrv.issue_token)
            t0 = time.monotonic()
            await authenticate(ws, token)
            return time.monotonic() - t0

    assert asyncio.run(main()) >= 0.3


def test_a_second_auth_frame_before_auth_ok_closes_4401(asrv: ServerThread) -> None:
    asrv.delay_auth_ok(5)

    async def main() -> tuple[int, str]:
        async with aiohttp.ClientSession() as s, s.ws_connect(asrv.ws_url) as ws:
            token = await asyncio.to_thread(asrv.issue_token)
            await send_json(ws, {"type": "auth", "token": token})
            await send_json(ws, {"type": "auth", "token": token})
            return await recv_close(ws)

    assert asyncio.run(main()) == (4401, "auth required")


# ---------------------------------------------------------------------- v1/v2 with auth


def test_v2_guarantees_hold_after_auth(asrv: ServerThread) -> None:
    """Subscribe answers, acks and dedup work as without auth once auth.ok is sent."""

    async def main() -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(asrv.ws_url) as ws:
            await authenticate(ws, await asyncio.to_thread(asrv.issue_token))
            await recv_type(ws, "hello")
            reply, (snapshot,) = await subscribe(ws, "a")
            assert snapshot["type"] == "project.snapshot" and not reply["recovered"]
            for _ in range(2):
                await send_json(ws, {"type": "save", "id": "r1"})
                ack = await recv_type(ws, "ack")
                assert (ack["id"], ack["ok"]) == ("r1", True)

    asyncio.run(main())
    assert [a.id for a in asrv.applied()] == ["r1"]


def test_v1_with_auth_has_auth_ok_but_no_hello(asrv: ServerThread) -> None:
    asrv.set_v1(True)

    async def main() -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(asrv.ws_url) as ws:
            await authenticate(ws, await asyncio.to_thread(asrv.issue_token))
            await send_json(ws, {"type": "ping", "id": "p"})
            assert (await recv_json(ws))["type"] == "pong"

    asyncio.run(main())


def test_auth_applies_to_new_connections_only_and_reset_turns_it_off(
    srv: ServerThread,
) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(srv.ws_url) as before:
            assert (await recv_json(before))["type"] == "hello"
            await asyncio.to_thread(srv.set_auth, True)
            await send_json(before, {"type": "ping", "id": "p"})
            assert (await recv_json(before))["type"] == "pong"  # still unauthenticated, fine

    asyncio.run(main())
    assert srv.snapshot().modes["auth"] is True
    srv.reset()
    assert srv.snapshot().modes["auth"] is False


# ---------------------------------------------------------------------- counters and secrecy


def test_counters_of_sockets_frames_bytes_and_tokens(asrv: ServerThread) -> None:
    """Sockets opened and open now, frames and bytes written, auth frames and their tokens."""

    async def main() -> tuple[list[str], int]:
        received = 0
        async with aiohttp.ClientSession() as s:
            tokens = [(await fetch_token(s, asrv.url))["token"] for _ in range(2)]
            async with s.ws_connect(asrv.ws_url) as ws:
                for token, replies in ((tokens[0], 2), (tokens[1], 1)):  # auth.ok (+ hello)
                    await send_json(ws, {"type": "auth", "token": token})
                    for _ in range(replies):
                        received += len((await ws.receive_str(timeout=2)).encode())
                async with s.ws_connect(asrv.ws_url):
                    snap = await asyncio.to_thread(asrv.wait_for, lambda x: x.sockets_open == 2)
                    assert snap.sockets_opened == 2
        return tokens, received

    tokens, received = asyncio.run(main())
    snap = asrv.wait_for(lambda s: s.sockets_open == 0)
    assert snap.sockets_opened == 2
    assert snap.auth_frames == 2 and snap.tokens_received == tokens
    assert (snap.frames_sent, snap.bytes_sent) == (3, received)


def test_the_server_never_logs_a_token(
    asrv: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def main() -> list[str]:
        async with aiohttp.ClientSession() as s:
            good = (await fetch_token(s, asrv.url))["token"]
            async with s.ws_connect(asrv.ws_url) as ws:
                await authenticate(ws, good)
                await send_json(ws, {"type": "auth", "token": "forged-token-value"})
                await recv_close(ws)
            return [good, "forged-token-value"]

    tokens = asyncio.run(main())
    asrv.wait_for(lambda s: s.sockets_open == 0)
    logged = caplog.text
    assert token_digest(tokens[0]) in logged  # the server does log auth, by digest
    for token in tokens:
        assert token not in logged


# ---------------------------------------------------------------------- the API itself


def test_constructor_and_cli_options(tmp_path: Path) -> None:
    args = parse_args(["--auth", "--token-lifetime", "0.5", "--hello-before-auth"])
    assert (args.auth, args.token_lifetime, args.hello_before_auth) == (True, 0.5, True)
    with pytest.raises(SystemExit):
        parse_args(["--token-lifetime", "0"])
    with ServerThread(root=tmp_path, auth=True, token_lifetime=2.0) as srv:
        modes = srv.snapshot().modes
        assert (modes["auth"], modes["token_lifetime"], modes["hello_before_auth"]) == (
            True,
            2.0,
            False,
        )
        srv.set_auth(False)
        srv.reset()
        assert srv.snapshot().modes["auth"] is True  # the constructor's choice


def test_an_unknown_lever_names_the_levers(srv: ServerThread) -> None:
    with pytest.raises(AttributeError, match="reject_auth"):
        srv.reject_auth_now()  # type: ignore[operator]  # deliberately misspelt
    assert srv.call(lambda: 41 + 1) == 42


def test_cli_with_auth_serves_tokens_and_never_prints_one(static_root: Path) -> None:
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "server", "--port", "0", "--root", str(static_root)),
            *("--no-demo", "--auth", "--token-lifetime", "0.5"),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip().split(" at ", 1)[1]
        assert address.endswith("/?auth=1")  # the demo page's provider is on at that address
        url = address.removesuffix("?auth=1")

        async def main() -> str:
            async with aiohttp.ClientSession() as s:
                body = await fetch_token(s, url)
                assert body["expires_in"] == 0.5
                async with s.ws_connect(url + "ws") as ws:
                    assert 0 < (await authenticate(ws, body["token"]))["expires_in"] <= 0.5
                    assert (await recv_json(ws))["type"] == "hello"
                    assert await recv_close(ws) == (4401, "token expired")
            token: str = body["token"]
            return token

        token = asyncio.run(main())
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=5)
    assert proc.returncode == 0
    assert token_digest(token) in err and token not in err
