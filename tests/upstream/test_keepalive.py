"""The upstream engine keeps its connection to a replica: after `[DONE]` it reads the body's
end, so the connection goes back to httpx's pool instead of being closed (one TCP connection
per request otherwise). Real sockets: a raw asyncio HTTP/1.1 server on loopback counts them."""

from __future__ import annotations

import asyncio
import json

import pytest

from openmaas.engines.base import ChatMessage, Finished, SamplingParams
from openmaas.engines.upstream import UpstreamChatEngine
from openmaas.engines.upstream_http import UpstreamTarget

CHUNKS = [
    {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 1}},
]
SSE = ("".join(f"data: {json.dumps(c)}\n\n" for c in CHUNKS) + "data: [DONE]\n\n").encode()


def sse_response(chunked: bool) -> bytes:
    if chunked:  # as vLLM sends it: one chunk per event, then the empty last chunk
        events = [e + b"\n\n" for e in SSE.split(b"\n\n") if e]
        body = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"
        return (
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        ) + body
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: %d\r\n\r\n" % len(SSE)
    ) + SSE


@pytest.mark.parametrize("chunked", [False, True])
async def test_one_connection_serves_many_requests(chunked: bool) -> None:
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                writer.write(sse_response(chunked))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    target = UpstreamTarget.build(
        "up-chat", [f"http://127.0.0.1:{port}"], "served", None, {"health_path": None}
    )
    engine = UpstreamChatEngine(target)
    try:
        for _ in range(5):
            prompt = await engine.prepare([ChatMessage("user", "hello")])
            events = [e async for e in engine.generate(prompt, SamplingParams(max_tokens=8), "acct")]
            assert events[-1] == Finished("stop", 5, 1)
    finally:
        await engine.close()
        server.close()
        await server.wait_closed()
    assert connections == 1
