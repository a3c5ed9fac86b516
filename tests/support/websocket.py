"""The websocket checks run against a real server, directly (tests/test_ws.py) and through the shipped proxies
(tests/test_ws_proxy.py): each `check_*` coroutine takes a websocket URL; a bounded client that skips heartbeats."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import websockets
from astropy.io import fits

from support.images import sky

BOUND = 20.0  # seconds any single expected message may take before the test gives up (a bound, not a measure)


class Socket:
    """A websocket client that skips heartbeats and bounds every wait."""

    def __init__(self, ws: Any, hello: dict[str, Any]) -> None:
        self.ws = ws
        self.hello = hello

    @classmethod
    async def open(cls, url: str) -> Socket:
        ws = await websockets.connect(url, ping_interval=None, max_size=2**24, open_timeout=BOUND)
        hello = json.loads(await asyncio.wait_for(ws.recv(), BOUND))
        assert hello["type"] == "hello"
        return cls(ws, hello)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def until(self, *types: str) -> list[dict[str, Any]]:
        out = []
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), BOUND))
            if message["type"] != "ping":
                out.append(message)
            if message["type"] in types:
                return out

    async def close_code(self) -> int:
        """Read until the server closes the socket; its close code."""
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), BOUND)
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None, "the connection dropped without a close frame"
            return closed.rcvd.code

    async def roundtrip(self) -> None:
        await self.send({"type": "ping"})
        await self.until("pong")


SLOW_SIDE = 3000


def write_slow_image(data_dir: Path, name: str) -> None:
    """A gzip'd FITS big enough that its build (decompression included) lasts about a second here, so that a
    socket on another worker sees it in progress."""
    buffer = io.BytesIO()
    fits.PrimaryHDU(sky(SLOW_SIDE, SLOW_SIDE, seed=3)).writeto(buffer)
    (data_dir / name).write_bytes(gzip.compress(buffer.getvalue(), compresslevel=1))


async def check_progress_across_workers(url: str, image: str, workers: int = 2) -> dict[str, Any]:
    """Hold a socket on each worker, subscribe them all to an image nobody has built: one worker builds, and the
    socket on another one sees that build's progress, growing, then `ready`. Returns the observer's ready."""
    sockets: dict[int, Socket] = {}
    spare: list[Socket] = []
    # The server answers as soon as its first worker is up; the others may still be starting: keep trying.
    deadline = time.monotonic() + BOUND
    try:
        while len(sockets) < workers and time.monotonic() < deadline:
            sock = await Socket.open(url)
            if sock.hello["worker"] in sockets:
                spare.append(sock)
                await asyncio.sleep(0.05)
            else:
                sockets[sock.hello["worker"]] = sock
        assert len(sockets) == workers, "could not reach every worker"
        for sock in sockets.values():
            await sock.send({"type": "subscribe", "image": image})
        results = await asyncio.gather(*(sock.until("ready", "error") for sock in sockets.values()))
    finally:
        for sock in [*spare, *sockets.values()]:
            await sock.ws.close()
    builders = {m["worker"] for messages in results for m in messages if m["type"] == "progress"}
    assert len(builders) == 1, builders
    builder = builders.pop()
    observers = [m for pid, m in zip(sockets, results) if pid != builder]
    assert observers
    for messages in observers:
        assert messages[-1]["type"] == "ready", messages[-1]
        fractions = [m["fraction"] for m in messages if m["type"] == "progress"]
        assert fractions and all(0 <= f < 1 for f in fractions)
        assert all(a < b for a, b in zip(fractions, fractions[1:])), fractions
    return observers[0][-1]


async def check_rewrite_is_noticed(url: str, image: str, rewrite: Callable[[], None]) -> tuple[str, str]:
    """Subscribe, rewrite the file: `changed` then a `ready` with a new cache tag. Returns the (old, new) tags."""
    sock = await Socket.open(url)
    await sock.send({"type": "subscribe", "image": image})
    old = (await sock.until("ready"))[-1]["info"]["cache_tag"]
    rewrite()
    messages = await sock.until("changed")
    assert all(m["type"] in ("progress", "ready") for m in messages[:-1])
    ready = (await sock.until("ready", "error"))[-1]
    await sock.ws.close()
    assert ready["type"] == "ready" and ready["info"]["cache_tag"] != old
    return old, ready["info"]["cache_tag"]


async def check_abusers_are_closed_alone(url: str, image: str) -> None:
    """A flooder and a sender of oversized messages are closed; a bystander on the same worker keeps being served
    during and after the flood."""
    bystander = await Socket.open(url)
    await bystander.send({"type": "subscribe", "image": image})
    await bystander.until("ready")
    abusers = []
    while len(abusers) < 2:  # on the bystander's worker, as the comparison means something only there
        sock = await Socket.open(url)
        if sock.hello["worker"] == bystander.hello["worker"]:
            abusers.append(sock)
        else:
            await sock.ws.close()
    flooder, bloater = abusers
    limit = bystander.hello["limits"]["message_bytes"]

    async def flood() -> int:
        try:
            for _ in range(2000):
                await flooder.ws.send('{"type": "ping"}')
        except websockets.ConnectionClosed:
            pass
        return await flooder.close_code()

    async def served() -> None:
        for _ in range(20):
            await bystander.roundtrip()

    await bloater.ws.send(json.dumps({"type": "ping", "pad": "x" * limit}))
    flood_code, _, bloat_code = await asyncio.gather(flood(), served(), bloater.close_code())
    assert (flood_code, bloat_code) == (1008, 1009)
    await bystander.roundtrip()
    await bystander.send({"type": "subscribe", "image": image})
    assert (await bystander.until("ready"))[-1]["image"] == image
    await bystander.ws.close()


async def check_idle_sockets(url: str, count: int, heartbeats: int = 2) -> None:
    """`count` sockets that send nothing stay open across `heartbeats` heartbeat periods, and still answer."""
    sockets = []
    for _ in range(count):
        sockets.append(await Socket.open(url))

    async def through(sock: Socket) -> None:
        for _ in range(heartbeats):
            message = json.loads(await asyncio.wait_for(sock.ws.recv(), BOUND))
            assert message["type"] == "ping"
        await sock.roundtrip()

    await asyncio.gather(*(through(sock) for sock in sockets))
    for sock in sockets:
        await sock.ws.close()
