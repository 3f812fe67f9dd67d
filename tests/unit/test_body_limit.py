"""BodyLimitMiddleware on raw ASGI messages: declared and chunked (no content-length) bodies."""

from __future__ import annotations

import asyncio

import orjson

from openmaas.api.body_limit import BodyLimitMiddleware

LIMIT = 10


class RecordingApp:
    """The downstream app: reads the whole body and answers 200 with it."""

    def __init__(self) -> None:
        self.calls = 0
        self.body = b""

    async def __call__(self, scope, receive, send) -> None:
        self.calls += 1
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.body = body
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def call(chunks: list[bytes], content_length: int | None = None, path: str = "/api/paas/v4/x"):
    app = RecordingApp()
    middleware = BodyLimitMiddleware(app, max_bytes=LIMIT)
    headers = [(b"content-type", b"application/json")]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    incoming = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]
    read = 0
    sent: list[dict] = []

    async def receive():
        nonlocal read
        read += 1
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(middleware(scope, receive, send))
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return app, status, body, read


def test_chunked_body_over_limit_is_413_and_cut_at_the_limit():
    app, status, body, read = call([b"123456", b"789012", b"345678"])
    assert status == 413
    assert orjson.loads(body)["error"]["code"] == "1210"
    assert app.body == b"123456"  # streamed: the app never saw a byte past the limit
    assert read == 2  # stopped reading as soon as the limit was crossed


def test_chunked_body_within_limit_is_replayed_whole():
    app, status, body, _ = call([b"12345", b"67890"])
    assert (status, app.calls, app.body, body) == (200, 1, b"1234567890", b"1234567890")


def test_declared_length_over_limit_is_refused_without_reading():
    app, status, _, read = call([b"x" * 50], content_length=50)
    assert (status, app.calls, read) == (413, 0, 0)


def test_declared_length_within_limit_passes_through():
    app, status, body, _ = call([b"0123456789"], content_length=10)
    assert (status, app.body) == (200, b"0123456789")


def test_openai_path_gets_the_openai_envelope():
    _, status, body, _ = call([b"x" * 6, b"x" * 6], path="/v1/chat/completions")
    error = orjson.loads(body)["error"]
    assert status == 413 and error["code"] == "1210" and error["type"] == "invalid_request_error"


def test_non_http_scopes_pass_straight_through():
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    asyncio.run(BodyLimitMiddleware(app, max_bytes=1)({"type": "lifespan"}, None, None))
    assert seen == ["lifespan"]
