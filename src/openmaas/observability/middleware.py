"""ASGI middleware: request id (echoed as `X-Request-Id`), access log line, request metrics."""

from __future__ import annotations

import logging
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openmaas.observability.logs import REQUEST_ID
from openmaas.observability.metrics import Metrics

log = logging.getLogger("openmaas.access")


def surface_of(path: str) -> str:
    for prefix, name in (
        ("/api/paas/v4", "zhipu"),
        ("/v1/", "openai"),
        ("/api/platform", "platform"),
        ("/console", "console"),
    ):
        if path.startswith(prefix):
            return name
    return "other"


CAPABILITY_PATH = re.compile(r"(/images/files/)[^/?#]+")


def redact_capabilities(path: str) -> str:
    """Image URLs are capabilities (their name is the only credential): never logged whole."""
    return CAPABILITY_PATH.sub(r"\1<redacted>", path)


class CapabilityPathFilter(logging.Filter):
    """For uvicorn's access log, whose third argument is the request path."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_capabilities(args[2]), *args[3:])
        return True


def redact_uvicorn_access_log() -> None:
    """Once uvicorn has configured its loggers (i.e. from the app's lifespan)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, CapabilityPathFilter) for f in access.filters):
        access.addFilter(CapabilityPathFilter())


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
        path = redact_capabilities(scope["path"])
        log.info(
            "%s %s %s",
            scope["method"],
            path,
            status,
            extra={
                "method": scope["method"],
                "path": path,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
            },
        )
