"""Security review finding 14: `BodyLimitMiddleware` read a chunked body (no Content-Length)
whole into memory before routing or authentication — up to 101 MB per anonymous connection
on the file paths, and the 401 came only after it was buffered.

Now the body streams through a counting `receive`: the app (and its authentication) runs as
the body arrives, nothing is buffered by the middleware, and at the limit it is cut with 413.
The first test fails on 99cbb66 (the body was read whole first)."""

from __future__ import annotations

import asyncio

from openmaas.api.body_limit import BodyLimitMiddleware


class RefusingApp:
    """Authenticates from the headers, reading one body message at most (as a 401 does)."""

    async def __call__(self, scope, receive, send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def run(app, chunks: list[bytes], max_bytes: int) -> tuple[int, int]:
    middleware = BodyLimitMiddleware(app, max_bytes=max_bytes)
    incoming = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]
    reads, sent = 0, []

    async def receive():
        nonlocal reads
        reads += 1
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/paas/v4/files", "headers": []}
    asyncio.run(middleware(scope, receive, send))
    return sent[0]["status"], reads


def test_a_refusal_comes_before_the_chunked_body_is_read():
    status, reads = run(RefusingApp(), [b"x" * 1024] * 50, max_bytes=10 * 1024 * 1024)
    assert status == 401
    assert reads == 1  # the middleware read nothing ahead of the app


class ReadingApp:
    """Reads the whole body, as a JSON route does, and records what it got."""

    def __init__(self) -> None:
        self.body = b""

    async def __call__(self, scope, receive, send) -> None:
        more = True
        while more:
            message = await receive()
            self.body += message.get("body", b"")
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def test_a_chunked_body_over_the_limit_is_cut_at_the_limit():
    app = ReadingApp()
    status, reads = run(app, [b"x" * 400] * 10, max_bytes=1000)
    assert status == 413
    assert reads == 3 and len(app.body) <= 1000  # cut at the limit, not read to the end
