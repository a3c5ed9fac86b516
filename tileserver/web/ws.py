"""The websocket channel, `{root_path}/ws`: build progress, ready, and live reload of files rewritten on disk.

Messages are JSON objects with a "type".
  client -> server: subscribe {image}, unsubscribe {image}, ping, pong (the answer to a heartbeat).
  server -> client: hello {worker, heartbeat, limits}, progress {image, stage, fraction, worker}, ready {image, info},
                    changed {image}, error {image, message, kind}, ping (the heartbeat), pong.
A subscription opens the image, `ready` with the INFO as soon as it can answer; an image shown from previews while
its pyramid is built (see lifecycle.py) then gets the build's progress, wherever it runs (the builder publishes it
on disk, see progress.py), and a second `ready` whose INFO says `final` (its cache tag loses its preview mark) once
every level is built. A source built before it is shown (gzip'd) gets progress first, then `ready`. The file is stat'ed
every `ws_watch_interval` seconds, and a rewrite yields `changed`, a rebuild, its progress and a new `ready`.
Each worker keeps one watch per image, shared by all its sockets subscribed to it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.websockets import WebSocket, WebSocketDisconnect

from .. import access, config, iip
from ..config import Settings
from ..engine import Engine, Image
from ..errors import Overloaded, SettingError, TileServerError

log = logging.getLogger("tileserver")

PROGRESS_POLL = 0.1  # seconds between two reads of a build's progress file
OUTBOX_SIZE = 256  # messages queued for one socket before it counts as too slow and is closed
MAX_IMAGE_NAME = 1024
RETRY_BUSY = 2.0  # seconds before a watch retries an image the server was too busy to build

# Close codes (RFC 6455).
POLICY = 1008
TOO_BIG = 1009
UNSUPPORTED = 1003
TRY_LATER = 1013
NORMAL = 1000
INTERNAL = 1011


def origin_allowed(headers: Headers, allowed: frozenset[str]) -> bool:
    """Refuse cross-site pages (the browser sends their cookies along: cross-site websocket hijacking).

    A client that sends no Origin is not a browser. Behind a proxy the Host header may have lost its port (nginx's
    $host), so a Host without a port is compared by host name only.
    """
    origin = headers.get("origin")
    if origin is None or "*" in allowed or origin in allowed:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    for name in ("host", "x-forwarded-host"):
        for value in headers.get(name, "").split(","):
            host = urlsplit("//" + value.strip())
            if not host.hostname:
                continue
            if (host.port is None and host.hostname == parts.hostname) or host.netloc.lower() == parts.netloc.lower():
                return True
    return False


class Connection:
    """One client socket: its subscriptions, its outgoing queue, its rate limit and its idle clock."""

    def __init__(self, websocket: WebSocket, settings: Settings) -> None:
        self.websocket = websocket
        self.settings = settings
        self.subscriptions: dict[str, str] = {}  # the image as the client spells it -> its watch's key
        self._outbox_in, self._outbox = anyio.create_memory_object_stream[str](OUTBOX_SIZE)
        self.stopped = anyio.Event()
        self.close_code: int | None = None
        self.close_reason = ""
        self.last_received = time.monotonic()
        rate = settings.ws_max_messages_per_second
        self._burst = max(1.0, 2.0 * rate)
        self._tokens = self._burst
        self._refilled = self.last_received

    def send(self, message: dict[str, Any] | str) -> None:
        """Queue a message; never blocks, so one slow client cannot hold up a broadcast to the others."""
        text = message if isinstance(message, str) else json.dumps(message)
        try:
            self._outbox_in.send_nowait(text)
        except anyio.WouldBlock:
            self.stop(TRY_LATER, "the client reads its messages too slowly")
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass  # the connection is over

    def stop(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        self.stopped.set()

    def take_token(self) -> bool:
        now = time.monotonic()
        rate = self.settings.ws_max_messages_per_second
        self._tokens = min(self._burst, self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def close_outbox(self) -> None:
        self._outbox_in.close()
        self._outbox.close()

    async def write_loop(self) -> None:
        async for text in self._outbox:
            try:
                await self.websocket.send_text(text)
            except RuntimeError:
                # The server's protocol closed the socket on its own (a frame over its size limit, invalid UTF-8,
                # a lost keepalive) while answers were queued: nobody is left to read them, and it is no failure.
                return

    async def heartbeat_loop(self) -> None:
        interval, idle = self.settings.ws_heartbeat_interval, self.settings.ws_idle_timeout
        next_ping = time.monotonic() + interval
        while True:
            now = time.monotonic()
            idle_left = self.last_received + idle - now
            if idle_left <= 0:
                self.stop(NORMAL, "idle timeout")
                return
            if now >= next_ping:
                # Keeps proxies (nginx's proxy_read_timeout, Apache's ProxyTimeout) from closing a quiet socket.
                self.send({"type": "ping"})
                next_ping = now + interval
            await anyio.sleep(max(0.01, min(next_ping - now, idle_left)))


class Watch:
    """One image watched by this worker for its subscribers: opens it, relays progress, notices rewrites."""

    def __init__(self, hub: LiveHub, image: str, query: iip.Query) -> None:
        self.hub = hub
        self.image = image
        self.query = query
        # Each subscriber with the spellings it used: every message names the image as its reader wrote it.
        self.subscribers: dict[Connection, set[str]] = {}
        self.last: dict[str, Any] | None = None  # the latest progress/ready/error message, replayed to newcomers
        self.task = asyncio.get_running_loop().create_task(self.run())

    def broadcast(self, message: dict[str, Any], keep: bool = True) -> None:
        self.last = message if keep else None
        for conn, names in list(self.subscribers.items()):
            for name in names:
                conn.send({**message, "image": name})

    def error(self, exc: TileServerError) -> None:
        self.broadcast({"type": "error", "image": self.image, "message": exc.message, "kind": exc.kind})

    async def run(self) -> None:
        while True:
            baseline = await self.signature()
            try:
                image = await self.open()
                baseline = image.key
                self.broadcast({"type": "ready", "image": self.image, "info": self.hub.engine.info(image)})
                if not image.final:
                    # Shown from previews while its levels are built: say so again once they are, with the final
                    # cache tag, so that clients swap their preview tiles for the final ones.
                    image = await self.until_final(image)
                    if image.final:
                        self.broadcast({"type": "ready", "image": self.image, "info": self.hub.engine.info(image)})
            except Overloaded:
                await asyncio.sleep(RETRY_BUSY)
                continue
            except TileServerError as exc:
                self.error(exc)
            except Exception:
                log.exception("websocket watch of an image failed")
                self.broadcast({"type": "error", "image": self.image, "message": "internal server error",
                                "kind": "server_error"})
            await self.wait_for_change(baseline)
            self.broadcast({"type": "changed", "image": self.image}, keep=False)

    async def signature(self) -> str | None:
        """The cache key of the file as it is now (it changes with size and mtime), None if it cannot be opened."""
        try:
            return (await run_in_threadpool(self.hub.engine.key_for, self.query))[1]
        except TileServerError:
            return None
        except Exception:  # the watch must outlive a surprise, or its subscribers would wait for ever
            log.exception("websocket watch cannot stat an image")
            return None

    async def open(self) -> Image:
        engine = self.hub.engine
        _, key = await run_in_threadpool(engine.key_for, self.query)
        image = engine.opened(key)
        if image is not None:
            return image
        opening = asyncio.ensure_future(run_in_threadpool(engine.open, self.query))
        # The build thread outlives a cancelled watch; its outcome is nobody's business then.
        opening.add_done_callback(lambda f: f.cancelled() or f.exception())
        sent = -1.0
        while not opening.done():
            await asyncio.wait({opening}, timeout=PROGRESS_POLL)
            record = engine.build_status(key)
            # Fractions only grow: a restarted build (after a crash elsewhere) is not shown going backwards.
            if record and record["fraction"] > sent and not opening.done():
                sent = record["fraction"]
                self.broadcast({"type": "progress", "image": self.image, "stage": record.get("stage", ""),
                                "fraction": sent, "worker": record.get("pid")})
        return opening.result()

    async def until_final(self, image: Image) -> Image:
        """Relay the build's progress until the image's levels are all final here; the image as it then is (still a
        preview if its build failed, or if the file changed meanwhile)."""
        engine = self.hub.engine
        sent = -1.0
        while True:
            await asyncio.sleep(PROGRESS_POLL)
            current = engine.opened(image.key)
            if current is None:  # dropped from this worker's memory: open it again, under the same key or not
                current = await run_in_threadpool(engine.open, self.query)
                if current.key != image.key:
                    return image
            if current.final or current.build_error:
                return current
            record = engine.build_status(image.key)
            if record and record["fraction"] > sent:
                sent = record["fraction"]
                self.broadcast({"type": "progress", "image": self.image, "stage": record.get("stage", ""),
                                "fraction": sent, "worker": record.get("pid")})

    async def wait_for_change(self, baseline: str | None) -> None:
        interval = self.hub.settings.ws_watch_interval
        current = baseline
        while current == baseline:
            await asyncio.sleep(interval)
            current = await self.signature()
        # Let the writer finish: wait until the file holds still for one interval before rebuilding it.
        while True:
            await asyncio.sleep(interval)
            latest = await self.signature()
            if latest == current:
                return
            current = latest


class LiveHub:
    """The websocket endpoint of one worker process and the images its sockets watch."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        if settings.ws_idle_timeout <= settings.ws_heartbeat_interval:
            raise SettingError(f"setting ws_idle_timeout: {settings.ws_idle_timeout} must be longer than "
                               f"ws_heartbeat_interval ({settings.ws_heartbeat_interval})")
        self.engine = engine
        self.settings = settings
        self.allowed_origins = frozenset(config.comma_list(settings.cors_origins))
        self.watches: dict[str, Watch] = {}
        engine.board.clean()

    async def endpoint(self, websocket: WebSocket) -> None:
        await websocket.accept()
        if not origin_allowed(websocket.headers, self.allowed_origins):
            await websocket.close(POLICY, "cross-site origin refused")
            return
        conn = Connection(websocket, self.settings)
        s = self.settings
        conn.send({"type": "hello", "worker": os.getpid(), "heartbeat": s.ws_heartbeat_interval, "limits": {
            "message_bytes": s.ws_max_message_bytes, "subscriptions": s.ws_max_subscriptions,
            "messages_per_second": s.ws_max_messages_per_second, "idle_timeout": s.ws_idle_timeout}})
        try:
            async with anyio.create_task_group() as group:
                async def until_done(loop: Callable[[], Awaitable[Any]]) -> None:
                    try:
                        await loop()
                    except (WebSocketDisconnect, OSError):
                        pass  # the client went away in the middle of a send
                    except Exception:
                        log.exception("websocket connection failed")
                        conn.stop(INTERNAL, "internal server error")  # a close frame, not a dropped connection
                    group.cancel_scope.cancel()  # one loop ending (or a stop) ends the connection

                for loop in (partial(self.read_loop, conn), conn.write_loop, conn.heartbeat_loop, conn.stopped.wait):
                    group.start_soon(until_done, loop)
        finally:
            self.drop(conn)
            conn.close_outbox()
        if conn.close_code is not None:
            with suppress(Exception), anyio.move_on_after(5.0):
                await websocket.close(conn.close_code, conn.close_reason)

    async def read_loop(self, conn: Connection) -> None:
        limit = self.settings.ws_max_message_bytes
        while True:
            message = await conn.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            conn.last_received = time.monotonic()
            if not conn.take_token():
                conn.stop(POLICY, "too many messages")
                return
            text = message.get("text")
            if text is None:
                conn.stop(UNSUPPORTED, "only text (JSON) messages are accepted")
                return
            if len(text) > limit or len(text.encode()) > limit:
                conn.stop(TOO_BIG, f"messages are limited to {limit} bytes")
                return
            self.handle(conn, text)

    def handle(self, conn: Connection, text: str) -> None:
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):  # deeply nested arrays exhaust the parser's stack: not a message either
            message = None
        if not isinstance(message, dict):
            conn.send({"type": "error", "image": None, "message": "messages must be JSON objects",
                       "kind": "value_error"})
            return
        kind = message.get("type")
        image = message.get("image")
        if kind in ("subscribe", "unsubscribe"):
            if not isinstance(image, str) or len(image) > MAX_IMAGE_NAME:
                conn.send({"type": "error", "image": None, "kind": "value_error",
                           "message": f"{kind} needs an 'image': a path relative to the data folder"})
            elif kind == "subscribe":
                self.subscribe(conn, image)
            else:
                self.unsubscribe(conn, image)
        elif kind == "ping":
            conn.send({"type": "pong"})
        elif kind != "pong":
            conn.send({"type": "error", "image": None, "kind": "value_error",
                       "message": "unknown message type; expected subscribe, unsubscribe, ping or pong"})

    def subscribe(self, conn: Connection, image: str) -> None:
        if image in conn.subscriptions:
            watch = self.watches[conn.subscriptions[image]]
            if watch.last:
                conn.send({**watch.last, "image": image})
            return
        if len(conn.subscriptions) >= self.settings.ws_max_subscriptions:
            conn.send({"type": "error", "image": image, "kind": "too_large", "message":
                       f"at most {self.settings.ws_max_subscriptions} images can be watched on one connection"})
            return
        try:
            query = iip.parse([("FIF", image), ("INFO", "")], access.user_of(conn.websocket.scope))
            self.engine.authorize(query.fif, query.user)  # watches are shared: check each subscriber
        except TileServerError as exc:
            conn.send({"type": "error", "image": image, "message": exc.message, "kind": exc.kind})
            return
        # One watch per image, whatever its spelling (./a.fits, a.fits[00] and a.fits[0] are one file to watch).
        key = query.fif + (f"[{query.selector}]" if query.selector else "")
        if key not in self.watches:
            self.watches[key] = Watch(self, key, query)
        watch = self.watches[key]
        watch.subscribers.setdefault(conn, set()).add(image)
        conn.subscriptions[image] = key
        if watch.last:
            conn.send({**watch.last, "image": image})

    def unsubscribe(self, conn: Connection, image: str) -> None:
        key = conn.subscriptions.pop(image, None)
        watch = self.watches.get(key) if key is not None else None
        if watch is None or key is None:
            return
        names = watch.subscribers.get(conn, set())
        names.discard(image)
        if not names:
            watch.subscribers.pop(conn, None)
        if not watch.subscribers:
            watch.task.cancel()
            del self.watches[key]

    def drop(self, conn: Connection) -> None:
        for image in list(conn.subscriptions):
            self.unsubscribe(conn, image)
