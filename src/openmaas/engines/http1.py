"""A small keep-alive HTTP/1.1 client for the upstream chat stream (the gateway's hot path).

httpx costs about a millisecond of CPU per streamed request here (anyio streams, several
layers of wrappers); this client is an asyncio protocol fed to httptools' C parser (the
parser uvicorn uses), with a pool of idle connections per replica. It does what the chat
path needs and no more: POST a JSON body, read the status and headers, iterate the body
(Content-Length, chunked or until close) as lines, and reuse the connection when the
response was read to its end. Everything else (JSON calls, health checks) stays on httpx.

Failures raise `Http1Error` with the kind the replica pool counts: `unavailable` (no
connection), `timeout` (connect, first byte or a gap between body parts over the limit),
`failure` (a broken or malformed response).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal
from urllib.parse import urlsplit

import httptools
import orjson

FailureKind = Literal["unavailable", "timeout", "failure"]


class Http1Error(Exception):
    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(detail)
        self.kind, self.detail = kind, detail


class _Connection(asyncio.Protocol):
    """One TCP connection; one response at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._on_closed: Callable[[], None] | None = None
        self._reset()

    def on_closed(self, callback: Callable[[], None]) -> None:
        """Call `callback` once when this connection closes (at once if it already has)."""
        self._on_closed = callback
        if self.closed:
            self._mark_closed()

    def _reset(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: deque[bytes] = deque()
        self.headers_done = self.complete = self.keep_alive = False
        self.error: Exception | None = None
        self._waiter: asyncio.Future | None = None

    # asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = exc
            self.close()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self._mark_closed()
        if not self.complete:
            if (
                self.headers_done
                and self.headers.get("content-length") is None
                and "chunked" not in self.headers.get("transfer-encoding", "")
            ):
                self.complete = True  # a body delimited by the connection's end
            elif self.error is None:
                self.error = exc or ConnectionResetError("connection closed by the upstream")
        self._wake()

    # httptools callbacks ---------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()  # only valid while parsing
        self.complete = True

    # our side --------------------------------------------------------------------------------
    def send(self, request: bytes) -> None:
        self._reset()
        if self.transport is None:
            raise ConnectionResetError("send on a connection that is not open")
        self.transport.write(request)

    async def wait(self, timeout: float) -> None:
        """Until the parser made progress (or the connection failed)."""
        if self.error is not None or self.closed:
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):  # not wait_for: it can swallow a cancellation (3.11)
                await self._waiter
        except TimeoutError:
            raise Http1Error("timeout", f"no answer within {timeout:g} s") from None
        finally:
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.closed and self.error is None

    def close(self) -> None:
        self._mark_closed()
        if self.transport is not None:
            self.transport.close()

    def _mark_closed(self) -> None:
        self.closed = True
        notify, self._on_closed = self._on_closed, None
        if notify is not None:
            notify()


class Http1Response:
    """The response to one request; read its body with `aread` or `aiter_lines`."""

    def __init__(self, pool: Http1Pool, key: tuple[str, int], conn: _Connection, read_timeout: float) -> None:
        self._pool, self._key, self._read_timeout = pool, key, read_timeout
        self._conn: _Connection | None = conn  # None once released
        self.status_code = conn.status
        self.headers = conn.headers
        self._content: bytes | None = None

    async def _parts(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            raise Http1Error("failure", "the response was already released")
        while True:
            while conn.chunks:
                yield conn.chunks.popleft()
            if conn.complete:
                return
            if conn.error is not None:
                raise Http1Error("failure", f"the response broke off: {conn.error}")
            await conn.wait(self._read_timeout)

    async def aread(self) -> bytes:
        if self._content is None:
            self._content = b"".join([part async for part in self._parts()])
        return self._content

    @property
    def text(self) -> str:
        return (self._content or b"").decode("utf-8", "replace")

    def json(self) -> Any:
        return orjson.loads(self._content or b"")

    async def aiter_lines(self) -> AsyncIterator[str]:
        pending = b""
        async for part in self._parts():
            pending += part
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.rstrip(b"\r").decode("utf-8")
        if pending:
            yield pending.rstrip(b"\r").decode("utf-8")

    def release(self) -> None:
        """Back to the pool when read to its end, else closed (its rest would be read by
        the next request)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if conn.reusable():
            self._pool.put_back(self._key, conn)
        else:
            conn.close()


class Http1Pool:
    """Keep-alive connections per (host, port): at most `max_connections` open (idle or in
    use); a request that finds none free waits up to `connect_timeout` for one, as httpx's
    pool does."""

    def __init__(
        self,
        connect_timeout: float,
        read_timeout: float,
        headers: dict[str, str] | None = None,
        max_connections: int = 256,
    ) -> None:
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.max_connections = max_connections
        self._extra_headers = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._open: dict[tuple[str, int], int] = {}
        self._waiters: dict[tuple[str, int], deque[asyncio.Future]] = {}

    @contextlib.asynccontextmanager
    async def post_stream(self, url: str, body: dict[str, Any]) -> AsyncIterator[Http1Response]:
        """POST `body` as JSON to `url`; yields the response once its headers arrived."""
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ValueError("Http1Pool speaks plain http only")
        key = (parts.hostname or "127.0.0.1", parts.port or 80)
        payload = _json_bytes(body)
        request = (
            f"POST {parts.path or '/'} HTTP/1.1\r\nhost: {parts.netloc}\r\n"
            f"content-type: application/json\r\naccept: text/event-stream\r\n"
            f"content-length: {len(payload)}\r\n{self._extra_headers}\r\n"
        ).encode() + payload
        response = await self._exchange(key, request)
        try:
            yield response
        finally:
            response.release()

    async def _exchange(self, key: tuple[str, int], request: bytes, idle_ok: bool = True) -> Http1Response:
        conn, reused = await self._acquire(key, idle_ok)
        conn.send(request)
        try:
            while not conn.headers_done:
                if conn.error is not None or conn.closed:
                    if reused:  # the server had closed the idle connection: once more, fresh
                        conn.close()
                        return await self._exchange(key, request, idle_ok=False)
                    raise Http1Error("failure", f"no response: {conn.error or 'connection closed'}")
                await conn.wait(self.read_timeout)
        except BaseException:
            conn.close()
            raise
        return Http1Response(self, key, conn, self.read_timeout)

    def _take_idle(self, key: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    async def _acquire(self, key: tuple[str, int], idle_ok: bool) -> tuple[_Connection, bool]:
        """(an idle connection, True) or (a new one, False); waits while all are in use."""
        deadline = asyncio.get_running_loop().time() + self.connect_timeout
        while True:
            conn = self._take_idle(key) if idle_ok else None
            if conn is not None:
                return conn, True
            if self._open.get(key, 0) < self.max_connections:
                return await self._connect(key), False
            await self._wait_for_room(key, deadline)

    async def _wait_for_room(self, key: tuple[str, int], deadline: float) -> None:
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        waiters = self._waiters.setdefault(key, deque())
        waiters.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                await waiter
        except TimeoutError:
            raise Http1Error(
                "timeout",
                f"all {self.max_connections} connections stayed busy for {self.connect_timeout:g} s",
            ) from None
        except BaseException:  # cancelled: a wake-up meant for us goes to the next waiter
            if waiter.done() and not waiter.cancelled():
                self._wake_one(key)
            raise
        finally:
            if waiter in waiters:
                waiters.remove(waiter)

    def _wake_one(self, key: tuple[str, int]) -> None:
        waiters = self._waiters.get(key)
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _connect(self, key: tuple[str, int]) -> _Connection:
        self._open[key] = self._open.get(key, 0) + 1  # the slot is taken while connecting
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(_Connection, key[0], key[1])
        except BaseException as exc:
            self._closed(key)
            if isinstance(exc, TimeoutError):
                raise Http1Error("timeout", f"connecting took over {self.connect_timeout:g} s") from None
            if isinstance(exc, OSError):
                raise Http1Error("unavailable", f"could not connect: {exc}") from exc
            raise
        conn.on_closed(lambda: self._closed(key))  # the connection now holds the slot
        return conn

    def _closed(self, key: tuple[str, int]) -> None:
        self._open[key] -= 1
        self._wake_one(key)

    def put_back(self, key: tuple[str, int], conn: _Connection) -> None:
        self._idle.setdefault(key, []).append(conn)
        self._wake_one(key)

    async def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


def _json_bytes(body: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(body)
    except TypeError:  # what orjson refuses (integers over 64 bits): the standard library
        return json.dumps(body, ensure_ascii=False).encode()
