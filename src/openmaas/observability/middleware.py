"""ASGI middleware: request id (echoed as `X-Request-Id`), access log line, request metrics."""

from __future__ import annotations

import logging
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openmaas.observability.logs import REQUEST_ID
from openmaas.observability.metrics import Metrics

log = logging.getLogger("openmaas.access")


def surface_of(path: str) -> str:
    for prefix, name in (("/api/paas/v4", "zhipu"), ("/v1/", "openai"), ("/api/platform", "platform"),
                         ("/console", "console")):
        if path.startswith(prefix):
            return name
    return "other"


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")[:64]
        request_id = incoming or secrets.token_hex(8)
        token = REQUEST_ID.set(request_id)
        began, status = time.perf_counter(), 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - began)
            REQUEST_ID.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"  # without the router's prefix
        surface = surface_of(scope["path"])
        self.metrics.requests.labels(surface, template, scope["method"], str(status)).inc()
        self.metrics.latency.labels(surface, template).observe(seconds)
        log.info("%s %s %s", scope["method"], scope["path"], status,
                 extra={"method": scope["method"], "path": scope["path"], "status": status,
                        "duration_ms": round(seconds * 1000, 2)})
