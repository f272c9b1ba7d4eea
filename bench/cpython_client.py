"""A CPython WebSocket client (aiohttp) that receives the throughput burst: the server's ceiling.

``python -m bench.cpython_client WS_URL N`` connects, prints ``ready``, then reads frames, parses
each with ``json.loads`` and counts the ``process.progress`` ones; after the N-th it prints one
JSON line ``{"rate": frames_per_second}`` (timed from the first counted frame to the N-th, as
the pages are) and exits. If this rate is well above the browser's, the server does not bound
them.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp


async def receive(url: str, n: int) -> float:
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        print("ready", flush=True)
        count = 0
        t0 = 0.0
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            if json.loads(msg.data).get("type") == "process.progress":
                if not t0:
                    t0 = time.perf_counter()
                count += 1
                if count == n:
                    return (n - 1) / (time.perf_counter() - t0)
    raise RuntimeError(f"connection closed after {count} of {n} frames")


def main() -> None:
    url, n = sys.argv[1], int(sys.argv[2])
    rate = asyncio.run(receive(url, n))
    print(json.dumps({"rate": rate}), flush=True)


if __name__ == "__main__":
    main()
