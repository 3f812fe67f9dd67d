"""The lean HTTP/1.1 client of the upstream chat path (engines/http1.py), against raw
asyncio servers on loopback: failure kinds, body framings, connection reuse."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest

from openmaas.engines.http1 import Http1Error, Http1Pool

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"


async def serve(answer) -> tuple[asyncio.AbstractServer, str, list[int]]:
    """A server that reads one request per loop and calls `answer(writer, n)`."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            n = 0
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                n += 1
                if await answer(writer, n) is False:
                    break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/chat", connections


async def lines_of(pool: Http1Pool, url: str) -> list[str]:
    async with pool.post_stream(url, {"q": "héllo"}) as response:
        assert response.status_code == 200
        return [line async for line in response.aiter_lines()]


async def test_chunked_lines_cross_chunk_boundaries_and_the_connection_is_reused():
    async def answer(writer, n):
        parts = [b'data: {"a":', b" 1}\n\ndata: [DO", b"NE]\n\n"]
        writer.write(
            HEAD
            + b"transfer-encoding: chunked\r\n\r\n"
            + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts)
            + b"0\r\n\r\n"
        )
        await writer.drain()

    server, url, connections = await serve(answer)
    pool = Http1Pool(1.0, 1.0)
    try:
        for _ in range(3):
            assert await lines_of(pool, url) == ['data: {"a": 1}', "", "data: [DONE]", ""]
    finally:
        await pool.close()
        server.close()
    assert len(connections) == 1


async def test_a_connection_the_server_closed_while_idle_is_replaced_transparently():
    async def answer(writer, n):
        body = b"data: [DONE]\n\n"
        writer.write(HEAD + b"content-length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        return False  # then close: the pool still holds the connection as idle

    server, url, connections = await serve(answer)
    pool = Http1Pool(1.0, 1.0)
    try:
        assert await lines_of(pool, url) == ["data: [DONE]", ""]
        await asyncio.sleep(0.05)
        assert await lines_of(pool, url) == ["data: [DONE]", ""]
    finally:
        await pool.close()
        server.close()
    assert len(connections) == 2


async def failure_kind(answer, read_timeout: float = 1.0) -> str:
    server, url, _ = await serve(answer)
    pool = Http1Pool(1.0, read_timeout)
    try:
        with pytest.raises(Http1Error) as caught:
            await lines_of(pool, url)
        return caught.value.kind
    finally:
        await pool.close()
        server.close()


async def test_a_body_that_breaks_off_is_a_failure():
    async def answer(writer, n):
        writer.write(HEAD + b'content-length: 100\r\n\r\ndata: {"partial"')
        await writer.drain()
        return False

    assert await failure_kind(answer) == "failure"


async def test_no_answer_within_the_read_timeout_is_a_timeout():
    async def answer(writer, n):
        await asyncio.sleep(5)

    assert await failure_kind(answer, read_timeout=0.2) == "timeout"


async def test_a_refused_connection_is_unavailable():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pool = Http1Pool(1.0, 1.0)
    with pytest.raises(Http1Error) as caught:
        await lines_of(pool, f"http://127.0.0.1:{port}/v1/chat")
    assert caught.value.kind == "unavailable"


async def test_error_statuses_carry_their_json_body():
    async def answer(writer, n):
        body = b'{"error": {"message": "bad model"}}'
        writer.write(
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n" % len(body) + body
        )
        await writer.drain()

    server, url, _ = await serve(answer)
    pool = Http1Pool(1.0, 1.0)
    try:
        async with pool.post_stream(url, {}) as response:
            await response.aread()
            assert response.status_code == 404
            assert response.json()["error"]["message"] == "bad model"
    finally:
        await pool.close()
        server.close()


def slow_done(delay: float, close: bool = False):
    """An answer that waits `delay` s before a one-event body (then closes, if asked)."""

    async def answer(writer, n):
        await asyncio.sleep(delay)
        body = b"data: [DONE]\n\n"
        writer.write(HEAD + b"content-length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        return not close

    return answer


async def test_open_connections_stay_within_max_connections():
    server, url, connections = await serve(slow_done(0.2))
    pool = Http1Pool(2.0, 2.0, max_connections=2)
    try:
        results = await asyncio.gather(*[lines_of(pool, url) for _ in range(5)])
    finally:
        await pool.close()
        server.close()
    assert results == [["data: [DONE]", ""]] * 5
    assert len(connections) == 2  # the other three waited and reused them


async def test_no_free_connection_within_the_connect_timeout_is_a_timeout_and_the_slot_comes_back():
    server, url, connections = await serve(slow_done(0.6))
    pool = Http1Pool(0.2, 2.0, max_connections=1)
    try:
        first = asyncio.create_task(lines_of(pool, url))
        await asyncio.sleep(0.05)
        with pytest.raises(Http1Error) as waited:
            await lines_of(pool, url)
        assert waited.value.kind == "timeout" and "busy" in waited.value.detail
        assert await first == ["data: [DONE]", ""]
        assert await lines_of(pool, url) == ["data: [DONE]", ""]
    finally:
        await pool.close()
        server.close()
    assert len(connections) == 1


async def test_a_connection_the_server_closes_gives_its_slot_back():
    server, url, connections = await serve(slow_done(0.0, close=True))
    pool = Http1Pool(0.5, 1.0, max_connections=1)
    try:
        for _ in range(3):
            assert await lines_of(pool, url) == ["data: [DONE]", ""]
            await asyncio.sleep(0.02)
    finally:
        await pool.close()
        server.close()
    assert len(connections) == 3
