"""ASGI middleware: refuse request bodies over the configured limit with 413 (code 1210).

`path_limits` raises the limit for given path prefixes (file uploads); the upload
handler then applies its own per-purpose limits.

A declared `Content-Length` over the limit is refused before anything is read. A body
without one (chunked) is never buffered here: the app reads it as it arrives, through a
`receive` that counts the bytes; at the limit the middleware answers 413 itself, tells the
app the client is gone, and drops whatever the app then tries to send. So memory per
connection is bounded by what the app itself holds, and nobody buffers a body before
authentication."""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openmaas.api.errors import error_body, is_openai_path
from openmaas.errors import PayloadTooLarge


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, path_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = path_limits or {}

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.path_limits.items():
            if path == prefix or path.startswith(prefix + "/"):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject(scope, send, limit)
            return
        if declared is not None:
            await self.app(scope, receive, send)
            return
        await self._streamed(scope, receive, send, limit)

    async def _streamed(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """No length declared (chunked): count while the app reads; cut at the limit."""
        received, rejected, started = 0, False, False

        async def counted_receive() -> Message:
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    rejected = True
                    if not started:
                        await self._reject(scope, send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return  # the 413 went out: whatever the app answers to the cut body is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not rejected:
                raise  # the app's own failure; after a cut, its complaint about the body is moot

    async def _reject(self, scope: Scope, send: Send, limit: int) -> None:
        exc = PayloadTooLarge(limit)
        body = orjson.dumps(error_body(exc, is_openai_path(scope["path"])))
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
