"""Server-kept history (a `previous_response_id` chain, an assistant conversation) fitted to the
model: the oldest turns are dropped first until the prompt fits the context window less the
completion allowance (`ChatService.measure`).

Kept always: the leading system messages (instructions, search results) and the newest input.
A turn is cut only where a user message begins one, so an assistant's tool calls never lose
their results (a `function_call` and its `function_call_output` go together; if the newest
input answers a call, the turn that made it stays too). When even the newest input alone does
not fit, the request goes on with every droppable turn gone, and the chat core answers 1261.
"""

from __future__ import annotations

from dataclasses import replace

from openmaas.chat.service import ChatService
from openmaas.chat.types import ChatRequest
from openmaas.engines.base import ChatMessage


def turn_starts(messages: list[ChatMessage], keep_last: int) -> list[int]:
    """Where the kept part may begin: after the leading system messages, at a user message no
    later than the newest input (the last `keep_last` messages)."""
    lead = next((i for i, m in enumerate(messages) if m.role != "system"), len(messages))
    newest = len(messages) - keep_last
    return [i for i in range(lead + 1, newest + 1) if i < len(messages) and messages[i].role == "user"]


def without_turns_before(messages: list[ChatMessage], start: int) -> list[ChatMessage]:
    lead = next((i for i, m in enumerate(messages) if m.role != "system"), len(messages))
    return [*messages[:lead], *messages[start:]]


async def fit_history(
    chat: ChatService, account_id: str, request: ChatRequest, keep_last: int
) -> ChatRequest:
    """The request with as few of its oldest turns dropped as makes it fit (one measure when it
    already fits, else a binary search over the turn boundaries)."""
    starts = turn_starts(request.messages, keep_last)
    if not starts or (await chat.measure(request, account_id)).fits:
        return request
    low, high = 0, len(starts) - 1  # the answer: the first start that fits, else the last
    while low < high:
        middle = (low + high) // 2
        trimmed = replace(request, messages=without_turns_before(request.messages, starts[middle]))
        if (await chat.measure(trimmed, account_id)).fits:
            high = middle
        else:
            low = middle + 1
    return replace(request, messages=without_turns_before(request.messages, starts[low]))
