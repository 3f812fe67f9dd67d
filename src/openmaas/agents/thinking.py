"""Thinking on the agent surfaces, in the chat core's terms.

The switch: Anthropic's `thinking` (`{"type": "enabled", "budget_tokens": N}`, `disabled`,
`adaptive`) and the Responses `reasoning.effort` (`none` off, any other level on) become
`ChatRequest.thinking`. `budget_tokens` is validated but not enforced: `max_tokens` bounds
reasoning and answer together, as the chat surface does.

Replay: reasoning sent back in the input (Anthropic `thinking` blocks of assistant turns,
Responses `reasoning` items) becomes the assistant message's `reasoning_content`. As on the
chat surface (`clear_thinking`, default true), only the turns after the last user message
keep it (the reasoning of a tool-use loop in progress); `clear_thinking: false` keeps all.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from openmaas.engines.base import ChatMessage, Thinking
from openmaas.errors import InvalidField

REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
ANTHROPIC_THINKING = {"enabled": True, "disabled": False, "adaptive": None}


def anthropic_thinking(raw: dict[str, Any] | None) -> Thinking:
    if raw is None:
        return Thinking()
    kind = raw.get("type")
    if kind not in ANTHROPIC_THINKING:
        raise InvalidField("thinking.type", 'must be "enabled", "disabled" or "adaptive"')
    budget = raw.get("budget_tokens")
    if kind == "enabled" and (not isinstance(budget, int) or isinstance(budget, bool) or budget < 1):
        raise InvalidField("thinking.budget_tokens", "a positive integer when thinking is enabled")
    return Thinking(ANTHROPIC_THINKING[kind])


def responses_thinking(raw: dict[str, Any] | None) -> Thinking:
    effort = (raw or {}).get("effort")
    if effort is None:
        return Thinking()
    if effort not in REASONING_EFFORTS:
        raise InvalidField("reasoning.effort", f"one of {', '.join(REASONING_EFFORTS)}")
    return Thinking(effort != "none", effort if effort != "none" else None)


def clear_thinking(raw: dict[str, Any] | None, where: str) -> bool:
    """`clear_thinking` inside the surface's thinking object (the chat surface's switch)."""
    value = (raw or {}).get("clear_thinking")
    if value is not None and not isinstance(value, bool):
        raise InvalidField(f"{where}.clear_thinking", "must be a boolean")
    return value is not False


def keep_recent_reasoning(messages: list[ChatMessage], clear: bool = True) -> list[ChatMessage]:
    """Earlier turns' reasoning dropped (`clear`), but that after the last user message kept."""
    if not clear:
        return messages
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    return [
        replace(m, reasoning_content=None) if m.reasoning_content and i < last_user else m
        for i, m in enumerate(messages)
    ]


def reasoning_text(parts: Any, where: str) -> str:
    """The text of a list of reasoning parts (`{"type": ..., "text": ...}`)."""
    if parts is None:
        return ""
    if not isinstance(parts, list):
        raise InvalidField(where, "a list of text parts")
    texts = []
    for index, part in enumerate(parts):
        text = part.get("text") if isinstance(part, dict) else None
        if not isinstance(text, str):
            raise InvalidField(f"{where}[{index}].text", "must be a string")
        texts.append(text)
    return "".join(texts)
