"""Counts every HTTP response of this worker for the status pages."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..monitor import Monitor


class CountRequests:
    """Counts every HTTP response of this worker (and an exception as a 500) into the Monitor."""

    def __init__(self, app: ASGIApp, monitor: Monitor) -> None:
        self.app = app
        self.monitor = monitor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self.monitor.count(scope, status)
