"""POST /api/paas/v4/chat/completions and POST /v1/chat/completions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from openmaas.agents.tool_rounds import ChatSurfaceRun
from openmaas.api.chat.schemas import OpenAIChatBody, ZhipuChatBody
from openmaas.api.chat.wire import JSON, OpenAIWire, SurfaceRun, Wire, ZhipuWire, stream_sse
from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.public.chat import SSE_RESPONSE, OpenAICompletion, ZhipuCompletion
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.auth.principal import Principal
from openmaas.chat.types import ChatRequest
from openmaas.concurrency import run_in_threadpool
from openmaas.errors import ClientGone
from openmaas.observability.request_bodies import BodyStore, assembled_answer, body_store, sse_payloads
from openmaas.services import Services

zhipu_router = APIRouter(route_class=OffLoopJSONRoute, tags=["chat (Zhipu v4)"])
openai_router = APIRouter(route_class=OffLoopJSONRoute, tags=["chat (OpenAI)"])
T = TypeVar("T")

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@zhipu_router.post("/chat/completions", response_model=ZhipuCompletion, responses=SSE_RESPONSE)
async def zhipu_chat(
    body: ZhipuChatBody, request: Request, services: ServicesDep, principal: PrincipalDep
) -> Response:
    return await respond(request, services, principal, body, ZhipuWire())


@openai_router.post("/chat/completions", response_model=OpenAICompletion, responses=SSE_RESPONSE)
async def openai_chat(
    body: OpenAIChatBody, request: Request, services: ServicesDep, principal: PrincipalDep
) -> Response:
    return await respond(request, services, principal, body, OpenAIWire(include_usage=body.include_usage))


async def with_tool_context(
    services: Services, principal: Principal, body: ZhipuChatBody | OpenAIChatBody
) -> ChatRequest:
    """The body as a ChatRequest with its tools' context in the prompt (retrieval, web
    search: `chat/tool_context.py`). The caller's tool and response_format schemas are
    checked off the event loop (up to 32 KiB each, a CPU-heavy check)."""
    if needs_worker_thread(body):
        chat = await run_in_threadpool(body.to_chat_request)
    else:
        chat = body.to_chat_request()
    return await services.tool_context.augment(principal, chat, body.tools)


PLAIN_MESSAGES = 64  # a plain chat this long converts in well under a millisecond


def needs_worker_thread(body: ZhipuChatBody | OpenAIChatBody) -> bool:
    """Schema checks (tools, response_format) and long conversations are CPU work worth a
    thread hop; a plain short chat converts faster than the hop itself costs."""
    return bool(body.tools) or body.response_format is not None or len(body.messages) > PLAIN_MESSAGES


async def respond(
    request: Request,
    services: Services,
    principal: Principal,
    body: ZhipuChatBody | OpenAIChatBody,
    wire: Wire,
) -> Response:
    """One chat answered for `principal` in `wire`'s shape, SSE or JSON (both chat routes and
    the console's chat)."""
    chat = await with_tool_context(services, principal, body)
    run: SurfaceRun
    if mcp_tools := body.mcp_tools():  # the platform lists and calls the MCP servers' tools, round by round
        run = ChatSurfaceRun(await services.agents.rounds.open(principal, chat, "chat", mcp_tools))
    else:
        run = await services.chat.open_run(principal, chat)  # every 4xx is raised here, pre-stream
    keep = BodyKeeper(body_store(services), principal.account_id, getattr(run, "request_id", None), body)
    if body.stream:
        return RunStreamingResponse(run, keep.stream(stream_sse(run, wire, isinstance(wire, OpenAIWire))))
    result = await until_disconnect(request, run.collect())
    answer = wire.completion(result)
    return JSONBody(answer, background=BackgroundTask(keep.answer, answer))


class BodyKeeper:
    """Keeps the request and its answer for an account that opted in, after the answer went out."""

    def __init__(
        self,
        store: BodyStore,
        account_id: str,
        request_id: str | None,
        raw: ZhipuChatBody | OpenAIChatBody | None,
    ) -> None:
        self._store, self._account_id, self._request_id = store, account_id, request_id
        self._raw = raw

    def _request(self) -> dict[str, Any] | None:
        return self._raw.model_dump(mode="json", exclude_none=True) if self._raw is not None else None

    async def answer(self, answer: JSON | Callable[[], JSON]) -> None:
        await run_in_threadpool(
            self._store.record_quietly, self._account_id, self._request_id, self._request(), answer
        )

    async def stream(self, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Passes the SSE body through, keeping the raw pieces (parsed only if the account keeps
        bodies); the inner generator is closed with this one, so a client that leaves stops
        the generation as before."""
        pieces: list[bytes] = []
        try:
            async for data in body:
                if self._raw is not None and len(pieces) < 20_000:
                    pieces.append(data)
                yield data
        finally:
            await aclose_quietly(body)
        await self.answer(lambda: assembled_answer([p for piece in pieces for p in sse_payloads(piece)]))


async def aclose_quietly(body: AsyncIterator[bytes]) -> None:
    close = getattr(body, "aclose", None)  # an async generator: closing it stops the generation
    if close is not None:
        await close()


class RunStreamingResponse(StreamingResponse):
    """SSE for one run; if the client left before the stream began, the run is abandoned
    (its hold released) instead of leaking until the stale-hold sweeper."""

    def __init__(self, run: SurfaceRun, body: AsyncIterator[bytes]) -> None:
        super().__init__(body, media_type="text/event-stream", headers=SSE_HEADERS)
        self.run = run

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.run.abandon()


async def until_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Run `work`, cancelling it (and so the generation) if the client goes away."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_wait_disconnect(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if not task.done():
        task.cancel()
    try:
        return await task
    except asyncio.CancelledError:
        raise ClientGone() from None


async def _wait_disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
