"""What every upstream engine shares: its target (replicas, model, key, knobs), the HTTP
client, failure classification, the try-each-replica loop (`Failover`, for JSON calls and
streams alike), and SSE parsing.

Failures are either the replica's fault (`ReplicaFailed`: no connection, timeout, HTTP 5xx,
429, a broken stream) — counted by its breaker and retried on another replica while nothing
has reached our caller — or the request's (upstream 4xx), which is reported as is and
retried nowhere. When no replica could serve, the caller sees one typed error:

    no replica available / all refused or overloaded  → UpstreamUnavailable (429, 1305)
    the last replica tried timed out                   → UpstreamTimeout     (500, 1234)
    the last replica tried answered 5xx or garbage     → UpstreamFailure     (500, 1234)
    upstream 4xx                                       → InvalidRequest      (400, 1210)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import orjson
from pydantic import BaseModel, ConfigDict

from openmaas.engines.http1 import Http1Error, Http1Response
from openmaas.engines.upstream_pool import Outcome, Replica, ReplicaPool
from openmaas.errors import (
    InternalFailure,
    InvalidRequest,
    PlatformError,
    UpstreamFailure,
    UpstreamTimeout,
    UpstreamUnavailable,
)

log = logging.getLogger(__name__)
FailureKind = Literal["unavailable", "timeout", "failure"]
DRAIN_SECONDS = 1.0  # after [DONE]: reading the body's end, to keep the connection


class UpstreamOptions(BaseModel):
    """Knobs of an upstream engine, read from the catalog entry's `options` (all optional)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt knob fails at start, not silently

    connect_timeout: float = 3.0  # seconds to open a connection
    read_timeout: float = 60.0  # seconds to wait for the first byte, and between stream events
    max_attempts: int | None = None  # replicas tried per request (None: each once, at most 3)
    failure_threshold: int = 3  # consecutive failures that open a replica's breaker
    reset_seconds: float = 5.0  # how long a breaker stays open before a half-open probe
    health_path: str | None = "/health"  # None: no active health checks
    health_interval: float = 5.0
    health_timeout: float = 2.0
    tokenize: Literal["estimate", "upstream"] = "estimate"  # prompt counting (see upstream.py)
    grammar_field: str | None = None  # e.g. "guided_grammar" (vLLM), "grammar" (llama.cpp server)
    max_connections: int = 256


@dataclass(frozen=True)
class UpstreamTarget:
    """Where a catalog model is served: replica base URLs, the upstream's model name, the key."""

    name: str  # our catalog name (for messages)
    replicas: tuple[str, ...]
    model: str  # the name the upstream knows the model by
    api_key: str | None = field(default=None, repr=False)
    options: UpstreamOptions = field(default_factory=UpstreamOptions)

    @classmethod
    def build(
        cls,
        name: str,
        replicas: list[str],
        model: str | None,
        api_key_env: str | None,
        options: dict[str, Any] | None = None,
    ) -> UpstreamTarget:
        if not replicas:
            raise ValueError(f"model {name!r}: an upstream engine needs at least one URL in `upstreams`")
        key = None
        if api_key_env:
            key = os.environ.get(api_key_env)
            if not key:
                raise ValueError(
                    f"model {name!r}: environment variable {api_key_env} (api_key_env) is not set"
                )
        return cls(
            name,
            tuple(_base_url(u) for u in replicas),
            model or name,
            key,
            UpstreamOptions.model_validate(options or {}),
        )

    @property
    def attempts(self) -> int:
        return self.options.max_attempts or min(len(self.replicas), 3)

    def pool(self) -> ReplicaPool:
        return ReplicaPool.of(list(self.replicas), self.options.failure_threshold, self.options.reset_seconds)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def timeout(self) -> httpx.Timeout:
        o = self.options
        return httpx.Timeout(
            connect=o.connect_timeout, read=o.read_timeout, write=o.read_timeout, pool=o.connect_timeout
        )

    def limits(self) -> httpx.Limits:
        n = self.options.max_connections
        return httpx.Limits(max_connections=n, max_keepalive_connections=n)

    def async_client(self, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=transport, headers=self.headers(), timeout=self.timeout(), limits=self.limits()
        )

    def sync_client(self, transport: httpx.BaseTransport | None = None) -> httpx.Client:
        return httpx.Client(
            transport=transport, headers=self.headers(), timeout=self.timeout(), limits=self.limits()
        )


def _base_url(url: str) -> str:
    """Accept `http://h:p`, `http://h:p/` or `http://h:p/v1` for a replica."""
    url = url.rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


# --- failures ---------------------------------------------------------------------------
class ReplicaFailed(Exception):
    """This replica could not serve the request; another one may."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(detail)
        self.kind, self.detail = kind, detail


def transport_failure(exc: httpx.HTTPError | Http1Error, url: str) -> ReplicaFailed:
    if isinstance(exc, Http1Error):
        return ReplicaFailed(exc.kind, f"{url}: {exc.detail}")
    if isinstance(exc, httpx.TimeoutException):
        return ReplicaFailed("timeout", f"{url} timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.ConnectError):
        return ReplicaFailed("unavailable", f"{url} refused the connection")
    return ReplicaFailed("failure", f"{url}: {type(exc).__name__}: {exc}")


def check_status(response: httpx.Response | Http1Response, url: str) -> None:
    """Raise for a non-2xx answer (its body must have been read)."""
    status = response.status_code
    if status < 300:
        return
    detail = f"{url} answered HTTP {status}: {error_message(response)}"
    if status in (408, 429, 503):
        raise ReplicaFailed("unavailable" if status != 408 else "timeout", detail)
    if status >= 500:
        raise ReplicaFailed("failure", detail)
    if status in (401, 403):
        log.error("upstream rejected our credentials: %s", detail)
        raise InternalFailure(
            "上游服务拒绝了凭据 (the upstream rejected OpenMaaS's credentials; check the model's api_key_env)"
        )
    raise InvalidRequest(f"上游服务拒绝了请求 (the upstream rejected the request: {error_message(response)})")


def error_message(response: httpx.Response | Http1Response) -> str:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return response.text[:300]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])[:300]
    return str(body)[:300]


def no_replica_error(target: UpstreamTarget, pool: ReplicaPool, last: ReplicaFailed | None) -> PlatformError:
    if last is None or last.kind == "unavailable":
        detail = last.detail if last else "every replica's circuit breaker is open"
        return UpstreamUnavailable(target.name, detail, retry_after=max(1.0, pool.retry_in()))
    if last.kind == "timeout":
        return UpstreamTimeout(target.name, last.detail)
    return UpstreamFailure(target.name, last.detail)


# --- trying each replica -----------------------------------------------------------------
class Failover:
    """One request's walk over the replicas, the one loop every upstream call uses: each
    least-busy replica not tried yet, up to `attempts`; `failed` notes why one could not serve
    (the next is tried), `error` is what the caller sees when none could."""

    def __init__(self, target: UpstreamTarget, pool: ReplicaPool, attempts: int | None = None) -> None:
        self.target, self.pool = target, pool
        self.attempts = attempts or target.attempts
        self.last: ReplicaFailed | None = None

    def __iter__(self) -> Iterator[Replica]:
        tried: set[str] = set()
        for _ in range(self.attempts):
            replica = self.pool.acquire(tried)
            if replica is None:
                return
            tried.add(replica.url)
            yield replica

    def failed(self, failure: ReplicaFailed) -> None:
        self.last = failure
        log.warning("upstream %s: %s", self.target.name, failure.detail)

    def error(self) -> PlatformError:
        return no_replica_error(self.target, self.pool, self.last)

    @contextlib.contextmanager
    def attempt(self, replica: Replica) -> Iterator[None]:
        """One call to `replica`, released with its outcome: a replica failure is noted and
        swallowed (the loop goes on); anything else (a 4xx, a cancel) is neutral and raised."""
        outcome: Outcome = "neutral"
        try:
            yield
            outcome = "success"
        except httpx.HTTPError as exc:
            outcome = "failure"
            self.failed(transport_failure(exc, replica.url))
        except ReplicaFailed as exc:
            outcome = "failure"
            self.failed(exc)
        finally:
            self.pool.release(replica, outcome)


# --- JSON calls with retry ----------------------------------------------------------------
async def post_json(
    client: httpx.AsyncClient,
    target: UpstreamTarget,
    pool: ReplicaPool,
    path: str,
    body: dict[str, Any],
    attempts: int | None = None,
) -> dict[str, Any]:
    """POST to the least-busy replica; on a replica failure try the next one."""
    failover = Failover(target, pool, attempts)
    for replica in failover:
        with failover.attempt(replica):
            return _json_object(await client.post(f"{replica.url}{path}", json=body), replica.url)
    raise failover.error()


def post_json_sync(
    client: httpx.Client, target: UpstreamTarget, pool: ReplicaPool, path: str, body: dict[str, Any]
) -> dict[str, Any]:
    """`post_json` for threads (the embedding batcher)."""
    failover = Failover(target, pool)
    for replica in failover:
        with failover.attempt(replica):
            return _json_object(client.post(f"{replica.url}{path}", json=body), replica.url)
    raise failover.error()


def _json_object(response: httpx.Response, url: str) -> dict[str, Any]:
    """The answer's JSON object; raises for a non-2xx answer or a body that is not one."""
    check_status(response, url)
    try:
        data = response.json()
    except ValueError as exc:
        raise ReplicaFailed("failure", f"{url} answered something that is not JSON") from exc
    if not isinstance(data, dict):
        raise ReplicaFailed("failure", f"{url} answered JSON that is not an object")
    return data


# --- SSE ----------------------------------------------------------------------------------
async def sse_payloads(response: httpx.Response | Http1Response, url: str) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects of an SSE body's `data:` lines, up to `[DONE]`. An `error` object in
    the stream, or a line that is not JSON, is the replica failing."""
    lines = response.aiter_lines()
    async for line in lines:
        for payload in _parse_line(line, url):
            if payload is None:
                await _drain(lines)
                return
            yield payload


async def _drain(lines: AsyncIterator[str]) -> None:
    """Read the body to its end after `[DONE]`, as the OpenAI SDK does: a response closed
    with its end unread (a chunked body's last chunk, even an empty one) takes its
    connection down with it, and every request then pays a new TCP connection. Bounded, for
    a server that keeps the body open after `[DONE]`: then the connection is dropped."""
    with contextlib.suppress(TimeoutError, httpx.HTTPError, Http1Error, ReplicaFailed):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in lines:
                pass


def _parse_line(line: str, url: str) -> Iterator[dict[str, Any] | None]:
    if not line.startswith("data:"):
        return  # blank separators, comments, event:/id: lines
    data = line[5:].strip()
    if data == "[DONE]":
        yield None
        return
    try:
        payload = orjson.loads(data)
    except ValueError as exc:
        raise ReplicaFailed("failure", f"{url} sent a stream event that is not JSON") from exc
    if not isinstance(payload, dict):
        raise ReplicaFailed("failure", f"{url} sent a stream event that is not an object")
    if "error" in payload and not payload.get("choices"):
        error = payload["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise ReplicaFailed("failure", f"{url} reported an error mid-stream: {message}")
    yield payload
