"""Chat completions on both surfaces (reference §6.4–6.6), and the async chat task (§7).

`stream: true` answers `text/event-stream` chunks instead (documented by `SSE_RESPONSE`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from openmaas.api.tool_endpoints.media import MediaTaskResponse

SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {}},
        "description": "the completion, or with stream: true its SSE chunks (`data:` lines, "
        "ending with `data: [DONE]`)",
    }
}


class FunctionCallPublic(BaseModel):
    name: str
    arguments: str


class ToolCallPublic(BaseModel):
    id: str
    type: Literal["function"]
    function: FunctionCallPublic


class ChatMessagePublic(BaseModel):
    role: Literal["assistant"]
    content: str | None
    tool_calls: list[ToolCallPublic] | None = None
    reasoning_content: str | None = None  # null when the model did not think
    reasoning: str | None = None  # /v1 only: the same text under vLLM's newer name


class PromptTokensDetails(BaseModel):
    cached_tokens: int


class CompletionTokensDetails(BaseModel):
    reasoning_tokens: int


class ChatUsagePublic(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails
    completion_tokens_details: CompletionTokensDetails


class ZhipuChoice(BaseModel):
    index: int
    finish_reason: str
    message: ChatMessagePublic


class ZhipuCompletion(BaseModel):
    id: str
    request_id: str
    object: Literal["chat.completion"]  # not in Zhipu's documented schema, in its real answers
    created: int
    model: str
    choices: list[ZhipuChoice]
    usage: ChatUsagePublic
    web_search: list[dict[str, Any]] | None = None  # with a web_search tool: what the model read


class OpenAIChoice(BaseModel):
    index: int
    finish_reason: str
    logprobs: None
    message: ChatMessagePublic


class OpenAICompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[OpenAIChoice]
    usage: ChatUsagePublic


class AsyncMessage(BaseModel):
    role: Literal["assistant"]
    content: str
    reasoning_content: str | None = None


class AsyncChoice(BaseModel):
    index: int
    finish_reason: str
    message: AsyncMessage


class AsyncUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    completion_tokens_details: CompletionTokensDetails | None = None


class AsyncChatTask(BaseModel):
    """PROCESSING: the first four fields; SUCCESS adds created/choices/usage; FAIL, error."""

    id: str
    request_id: str
    model: str
    task_status: str
    created: int | None = None
    choices: list[AsyncChoice] | None = None
    usage: AsyncUsage | None = None
    error: dict[str, str] | None = None


AsyncResult = AsyncChatTask | MediaTaskResponse  # async images and videos answer the latter
