"""Knowledge-base grounding shared by Responses `file_search` and assistants' retrieval: the
top passages of the account's knowledge bases go into the last user turn (the chat
`retrieval` tool's template), so a document far larger than the context window can be asked;
when the evidence gate finds none that answers, the turn says so (as the chat tool does)."""

from __future__ import annotations

from dataclasses import replace

from openmaas.auth.principal import Principal
from openmaas.chat.types import ChatRequest
from openmaas.engines.base import ChatMessage
from openmaas.errors import InvalidField
from openmaas.knowledge.retrieval import Passage, RetrievalQuery, RetrievalService
from openmaas.knowledge.retrieval_tool import grounded_prompt


def last_user_text(messages: list[ChatMessage], field: str) -> str:
    for message in reversed(messages):
        if message.role == "user" and (message.content or "").strip():
            return message.content or ""
    raise InvalidField(field, "searching needs a user message to search for")


async def ground_in_knowledge(
    retrieval: RetrievalService,
    principal: Principal,
    chat: ChatRequest,
    knowledge_ids: list[str],
    request_id: str,
    top_k: int | None = None,
    field: str = "input",
) -> tuple[ChatRequest, str, list[Passage]]:
    """The request with its last user turn rewritten around the passages (trace stored under
    `request_id`), the question searched for, and the passages."""
    question = last_user_text(chat.messages, field)
    result = await retrieval.retrieve(
        principal,
        RetrievalQuery(knowledge_ids=knowledge_ids, query=question, top_k=top_k, request_id=request_id),
    )
    prompt = grounded_prompt(result, None, question, retrieval.settings.max_knowledge_chars)
    index = max(i for i, m in enumerate(chat.messages) if m.role == "user")
    messages = list(chat.messages)
    messages[index] = replace(messages[index], content=prompt)
    return replace(chat, messages=messages), question, result.passages
