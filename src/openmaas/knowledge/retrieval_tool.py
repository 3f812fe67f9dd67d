"""The chat `retrieval` tool: top chunks of a knowledge base put into the prompt.

`{"type": "retrieval", "retrieval": {"knowledge_id": "...", "prompt_template": "..."}}`
→ the last user message is replaced by the template with `{{knowledge}}` (the numbered
passages, each with its document name, so the answer can cite [n]) and `{{question}}`
(the original message). The default template is the GLM platform's own: answer from the
passages and cite them, else from the model's own knowledge, saying so (Chinese template for
a question with Chinese characters). When the evidence gate (knowledge/answerable.py) finds
no relevant passage, the model gets no passages: the default prompt becomes "nothing on this
question was found in the documents; say so", and a caller's own template gets that note as
its `{{knowledge}}`.
The retrieval trace is stored under the chat request's id (see RetrievalService.get_trace).

Every chat surface calls `augment_chat_request()` through `chat/tool_context.py` before the
request is opened.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openmaas.auth.principal import Principal
from openmaas.chat.ids import new_request_id
from openmaas.chat.types import ChatRequest
from openmaas.cjk import HAN
from openmaas.engines.base import ChatMessage
from openmaas.errors import InvalidField, MissingField
from openmaas.knowledge.retrieval import Passage, RetrievalQuery, RetrievalResult, RetrievalService

# The GLM platform's own default (its documented `prompt_template`): documents, question, then
# "answer from the documents, else from your own knowledge and say so". Measured on a dev
# sample of 20 with the packaged 1.5B (glm-4), answerable questions right: this 67 %; the same
# shape with "else say the documents do not contain it" 56 %; with a fixed not-found sentence
# to copy 17 %; rules first with that sentence (the previous default) 22 %. A small model
# given a sentence to fall back on uses it for questions the documents do answer.
DEFAULT_TEMPLATE_ZH = (
    '从文档\n"""\n{{knowledge}}\n"""\n中找问题\n"""\n{{question}}\n"""\n'
    "的答案。找到答案就仅使用文档语句回答问题，并用 [编号] 注明引用的文档片段；"
    "找不到答案就用自身知识回答并且告诉用户该信息不是来自文档。\n不要复述问题，直接开始回答。"
)
DEFAULT_TEMPLATE_EN = (
    'Documents:\n"""\n{{knowledge}}\n"""\nQuestion:\n"""\n{{question}}\n"""\n'
    "Answer the question using only the documents above and cite the passages you used as "
    "[n]. If the answer is not in the documents, answer from your own knowledge and say "
    "that it does not come from the documents. Do not repeat the question."
)
# The evidence gate found nothing relevant: a prompt without passages. Issue #20: given the
# GLM prompt and weak passages the 1.5B declined 0 of 7 unanswerable test questions (it
# answered from its own knowledge); a fixed not-found sentence next to passages cost answerable
# accuracy (22 %), so it is only ever given without them.
NOTHING_FOUND_TEMPLATE_ZH = (
    '问题\n"""\n{{question}}\n"""\n已在知识库的文档中检索，没有找到与该问题相关的内容。'
    "请用一两句话告诉用户：文档中没有提及该信息。不要用自身知识回答，不要编造。"
)
NOTHING_FOUND_TEMPLATE_EN = (
    'Question:\n"""\n{{question}}\n"""\nThe documents of the knowledge base were searched for '
    "this question and nothing relevant to it was found. Tell the user in one or two sentences "
    "that the documents do not contain this information. Do not answer from your own knowledge "
    "and do not make anything up."
)
NOTHING_FOUND_KNOWLEDGE_ZH = "（知识库的文档中没有找到与该问题相关的内容。）"
NOTHING_FOUND_KNOWLEDGE_EN = (
    "(Nothing relevant to this question was found in the documents of the knowledge base.)"
)
_PLACEHOLDER = re.compile(r"\{\{\s*(knowledge|question)\s*\}\}")


@dataclass(frozen=True)
class RetrievalTool:
    knowledge_id: str
    prompt_template: str | None = None
    top_k: int | None = None


def find_retrieval_tool(tools: Sequence[dict[str, Any]] | None) -> RetrievalTool | None:
    """The first `retrieval` tool in a request's tools list (validated), or None."""
    for index, tool in enumerate(tools or []):
        if not isinstance(tool, dict) or tool.get("type") != "retrieval":
            continue
        spec = tool.get("retrieval")
        if not isinstance(spec, dict) or not spec.get("knowledge_id"):
            raise MissingField(f"tools[{index}].retrieval.knowledge_id")
        template = spec.get("prompt_template")
        if template is not None and not isinstance(template, str):
            raise InvalidField(f"tools[{index}].retrieval.prompt_template", "must be a string")
        top_k = spec.get("top_k")
        return RetrievalTool(
            str(spec["knowledge_id"]),
            template or None,
            int(top_k) if isinstance(top_k, int | str) and str(top_k).isdigit() else None,
        )
    return None


def non_retrieval_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [t for t in tools or [] if not (isinstance(t, dict) and t.get("type") == "retrieval")]


def format_knowledge(passages: list[Passage], max_chars: int) -> str:
    blocks: list[str] = []
    used = 0
    for number, passage in enumerate(passages, start=1):
        block = f"[{number}] 《{passage.document_name}》\n{passage.text.strip()}"
        if blocks and used + len(block) > max_chars:
            break
        blocks.append(block[:max_chars])
        used += len(block)
    return "\n\n".join(blocks)


def render_template(template: str | None, knowledge: str, question: str) -> str:
    if template is None:
        template = DEFAULT_TEMPLATE_ZH if HAN.search(question) else DEFAULT_TEMPLATE_EN
    return _fill(template, knowledge, question)


def render_nothing_found(template: str | None, question: str) -> str:
    """The prompt when the evidence gate found no relevant passage (question's language)."""
    chinese = bool(HAN.search(question))
    if template is None:
        return _fill(NOTHING_FOUND_TEMPLATE_ZH if chinese else NOTHING_FOUND_TEMPLATE_EN, "", question)
    return _fill(template, NOTHING_FOUND_KNOWLEDGE_ZH if chinese else NOTHING_FOUND_KNOWLEDGE_EN, question)


def grounded_prompt(result: RetrievalResult, template: str | None, question: str, max_chars: int) -> str:
    """The question rewritten around what retrieval found, or around "nothing relevant" when
    the evidence gate judged no passage to answer it."""
    if result.nothing_relevant:
        return render_nothing_found(template, question)
    return render_template(template, format_knowledge(result.passages, max_chars), question)


def _fill(template: str, knowledge: str, question: str) -> str:
    values = {"knowledge": knowledge, "question": question}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


async def augment_messages(
    retrieval: RetrievalService,
    principal: Principal,
    messages: list[ChatMessage],
    tool: RetrievalTool,
    request_id: str,
) -> list[ChatMessage]:
    """Messages with the last user turn rewritten through the template (trace stored)."""
    last = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "user"), None)
    if last is None or not (messages[last].content or "").strip():
        raise InvalidField("messages", "the retrieval tool needs a user message to answer")
    question = messages[last].content or ""
    result = await retrieval.retrieve(
        principal,
        RetrievalQuery(
            knowledge_ids=[tool.knowledge_id], query=question, top_k=tool.top_k, request_id=request_id
        ),
    )
    prompt = grounded_prompt(result, tool.prompt_template, question, retrieval.settings.max_knowledge_chars)
    rewritten = list(messages)
    rewritten[last] = dataclasses.replace(messages[last], content=prompt)
    return rewritten


async def augment_chat_request(
    retrieval: RetrievalService,
    principal: Principal,
    request: ChatRequest,
    tools: Sequence[dict[str, Any]] | None,
) -> ChatRequest:
    """The chat hook: a request with a retrieval tool comes back with its prompt augmented
    and a request id fixed (so the trace can be found under the response's id)."""
    tool = find_retrieval_tool(tools)
    if tool is None:
        return request
    request_id = request.request_id or new_request_id()
    messages = await augment_messages(retrieval, principal, request.messages, tool, request_id)
    return dataclasses.replace(request, messages=messages, request_id=request_id)
