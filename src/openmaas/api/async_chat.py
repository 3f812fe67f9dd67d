"""POST /async/chat/completions and GET /async-result/{id} (reference §7).

A SUCCESS body must be strictly typed: the zhipuai SDK validates the union strictly
and silently degrades to a status object when any field is missing (§1.4).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from openmaas.api.chat.routes import with_tool_context
from openmaas.api.chat.schemas import ZhipuChatBody
from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.public.chat import AsyncChatTask, AsyncResult
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.api.tool_endpoints.media import task_response
from openmaas.chat.async_chat import AsyncTask

router = APIRouter(route_class=OffLoopJSONRoute, tags=["async chat (Zhipu v4)"])


@router.post("/async/chat/completions", response_model=AsyncChatTask)
async def submit_async_chat(body: ZhipuChatBody, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    task = await services.async_chat.submit(principal, await with_tool_context(services, principal, body))
    return JSONBody(async_task_body(task))


@router.get("/async-result/{task_id}", response_model=AsyncResult)
async def async_result(
    task_id: str, request: Request, services: ServicesDep, principal: PrincipalDep
) -> JSONBody:
    media = await services.tools.media.fetch(principal, task_id)  # async images and videos
    if media is not None:
        return JSONBody(task_response(media, request).model_dump(exclude_none=True))
    return JSONBody(async_task_body(await services.async_chat.fetch(principal, task_id)))


def async_task_body(task: AsyncTask) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": task.id,
        "request_id": task.request_id,
        "model": task.model,
        "task_status": task.status,
    }
    if task.status == "SUCCESS" and task.result:
        usage = task.result["usage"]
        body |= {
            "created": task.result["created"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": task.result["finish_reason"],
                    "message": {"role": "assistant", "content": task.result["content"]},
                }
            ],
            "usage": {
                "prompt_tokens": usage["prompt_tokens"],
                "completion_tokens": usage["completion_tokens"],
                "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"],
            },
        }
        if "reasoning_content" in task.result:  # a thinking model's (kept as the job's result)
            body["choices"][0]["message"]["reasoning_content"] = task.result["reasoning_content"]
            body["usage"]["completion_tokens_details"] = usage.get("completion_tokens_details")
    if task.error:
        body["error"] = task.error
    return body
