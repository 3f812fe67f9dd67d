"""Async chat (reference §7): a durable job per request, polled through async-result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openmaas.auth.principal import Principal
from openmaas.chat.ids import new_request_id
from openmaas.chat.service import ChatService
from openmaas.chat.types import ChatRequest, ChatResult, request_from_dict, request_to_dict
from openmaas.concurrency import run_in_threadpool
from openmaas.jobs.queue import JobQueue
from openmaas.store.tables import Job

KIND = "async_chat"


@dataclass(frozen=True)
class AsyncTask:
    id: str
    request_id: str
    model: str
    status: str  # PROCESSING | SUCCESS | FAIL
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None


class AsyncChatService:
    def __init__(self, chat: ChatService, jobs: JobQueue) -> None:
        self._chat = chat
        self._jobs = jobs

    async def submit(self, principal: Principal, request: ChatRequest) -> AsyncTask:
        await self._chat.validate(request, principal.account_id)  # model + prompt now; funds when it runs
        task_id = new_request_id()
        request_id = request.request_id or task_id
        payload = request_to_dict(request) | {"request_id": request_id}
        await run_in_threadpool(self._jobs.submit, principal, KIND, payload, task_id)
        return AsyncTask(id=task_id, request_id=request_id, model=request.model, status="PROCESSING")

    async def run_job(self, job: Job, principal: Principal) -> dict[str, Any]:
        """Runs as the job's owner at the account's tier (the worker checked the key). A job
        claimed again after a crash recognises its earlier attempt's charge by its request id:
        it runs free then (charged once), instead of failing on the used id (1231)."""
        result = await self._chat.complete(
            principal, request_from_dict(job.payload), "async_chat", resume=job.attempts > 1
        )
        return _result_dict(result)

    async def fetch(self, principal: Principal, task_id: str) -> AsyncTask:
        job = await run_in_threadpool(self._jobs.get, principal.account_id, task_id, KIND)
        status = {"succeeded": "SUCCESS", "failed": "FAIL"}.get(job.state, "PROCESSING")
        error = (
            {"code": job.error_code or "500", "message": job.error_message or ""}
            if status == "FAIL"
            else None
        )
        return AsyncTask(
            id=job.id,
            request_id=job.payload.get("request_id", job.id),
            model=job.payload["model"],
            status=status,
            result=job.result,
            error=error,
        )


def _result_dict(result: ChatResult) -> dict[str, Any]:
    data: dict[str, Any] = {
        "created": result.created,
        "content": result.content,
        "finish_reason": result.finish_reason,
        "usage": {
            "prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens,
        },
    }
    if result.reasoning_content is not None:
        data["reasoning_content"] = result.reasoning_content
        data["usage"]["completion_tokens_details"] = {"reasoning_tokens": result.usage.reasoning_tokens}
    return data
