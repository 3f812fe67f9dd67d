"""POST /api/paas/v4/chat/completions and POST /v1/chat/completions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from openmaas.api.chat.schemas import OpenAIChatBody, ZhipuChatBody
from openmaas.api.chat.wire import OpenAIWire, Wire, ZhipuWire, stream_sse
from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.responses import JSONBody
from openmaas.auth.principal import Principal
from openmaas.chat.service import ChatRun
from openmaas.chat.types import ChatRequest
from openmaas.chat.web_search import augment_with_web_search
from openmaas.errors import ClientGone
from openmaas.knowledge.retrieval_tool import augment_chat_request
from openmaas.services import Services

zhipu_router = APIRouter(tags=["chat (Zhipu v4)"])
openai_router = APIRouter(tags=["chat (OpenAI)"])
T = TypeVar("T")

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@zhipu_router.post("/chat/completions")
async def zhipu_chat(body: ZhipuChatBody, request: Request, services: ServicesDep,
                     principal: PrincipalDep):
    return await _respond(request, services, principal, await with_tool_context(services, principal, body),
                          ZhipuWire(),
                          stream=bool(body.stream), openai=False)


@openai_router.post("/chat/completions")
async def openai_chat(body: OpenAIChatBody, request: Request, services: ServicesDep,
                      principal: PrincipalDep):
    return await _respond(request, services, principal, await with_tool_context(services, principal, body),
                          OpenAIWire(include_usage=body.include_usage),
                          stream=bool(body.stream), openai=True)


async def with_tool_context(services: Services, principal: Principal,
                          body: ZhipuChatBody | OpenAIChatBody) -> ChatRequest:
    """A `retrieval` tool puts a knowledge base's top chunks into the prompt (trace kept);
    a `web_search` tool puts search results there (and into the answer's `web_search`)."""
    chat = await augment_chat_request(services.knowledge.retrieval, principal,
                                      body.to_chat_request(), body.tools)
    return await augment_with_web_search(services.search, chat, body.tools,
                                         services.settings.web_search.default_count)


async def _respond(request: Request, services: Services, principal: Principal,
                   chat: ChatRequest, wire: Wire, *, stream: bool, openai: bool):
    run = await services.chat.open_run(principal, chat)  # every 4xx is raised here, pre-stream
    if stream:
        return RunStreamingResponse(run, stream_sse(run, wire, openai))
    result = await until_disconnect(request, run.collect())
    return JSONBody(wire.completion(result))


class RunStreamingResponse(StreamingResponse):
    """SSE for one run; if the client left before the stream began, the run is abandoned
    (its hold released) instead of leaking until the stale-hold sweeper."""

    def __init__(self, run: ChatRun, body) -> None:
        super().__init__(body, media_type="text/event-stream", headers=SSE_HEADERS)
        self.run = run

    async def __call__(self, scope, receive, send) -> None:
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
