"""POST /async/chat/completions and GET /async-result/{id} (reference §7).

A SUCCESS body must be strictly typed: the zhipuai SDK validates the union strictly
and silently degrades to a status object when any field is missing (§1.4).
"""

from __future__ import annotations

from fastapi import APIRouter

from openmaas.api.chat.routes import with_tool_context
from openmaas.api.chat.schemas import ZhipuChatBody
from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.responses import JSONBody
from openmaas.chat.async_chat import AsyncTask

router = APIRouter(tags=["async chat (Zhipu v4)"])


@router.post("/async/chat/completions")
async def submit_async_chat(body: ZhipuChatBody, services: ServicesDep, principal: PrincipalDep):
    task = await services.async_chat.submit(principal, await with_tool_context(services, principal, body))
    services.worker_wake()
    return JSONBody(_task_body(task))


@router.get("/async-result/{task_id}")
async def async_result(task_id: str, services: ServicesDep, principal: PrincipalDep):
    return JSONBody(_task_body(await services.async_chat.fetch(principal, task_id)))


def _task_body(task: AsyncTask) -> dict:
    body = {"id": task.id, "request_id": task.request_id, "model": task.model,
            "task_status": task.status}
    if task.status == "SUCCESS" and task.result:
        usage = task.result["usage"]
        body |= {
            "created": task.result["created"],
            "choices": [{"index": 0, "finish_reason": task.result["finish_reason"],
                         "message": {"role": "assistant", "content": task.result["content"]}}],
            "usage": {"prompt_tokens": usage["prompt_tokens"],
                      "completion_tokens": usage["completion_tokens"],
                      "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]},
        }
    if task.error:
        body["error"] = task.error
    return body
