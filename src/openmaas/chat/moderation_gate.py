"""Chat's `sensitive_word_check`: the prompt and the answer checked by the rule moderator.

A request sends `{"type": "ALL", "status": "ENABLE" | "DISABLE"}`; without it (or without a
`status`) the operator's `tools.moderation.check_chat_by_default` decides (off unless set).
The local term lists judge (moderation/rules.py) — never an upstream moderation model, which
would cost a round trip per chunk. Only REJECT blocks; REVIEW categories pass.

- The prompt: each user message is checked before anything is admitted or held, so a
  blocked prompt is 1301 and nothing is charged.
- The answer: text is held back and checked (the whole answer so far) at sentence ends,
  after `chat_check_every_chars` new characters and at the end; text that passed is
  released. A blocked answer ends with `Finished("sensitive")`: the held-back text that
  completed the match is never sent, and every token generated is billed. Reasoning and tool
  calls pass unchecked.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import replace
from typing import Any

from openmaas.chat.generation import Event
from openmaas.chat.types import ChatRequest
from openmaas.engines.base import Finished, ReasoningDelta, TextDelta
from openmaas.errors import InvalidField, UnsafeContent
from openmaas.moderation.rules import RISK_REJECT, RuleModerator
from openmaas.moderation.settings import ModerationSettings

SENTENCE_ENDS = frozenset("。！？；!?;.\n")
STATUSES = ("ENABLE", "DISABLE")


def parse_sensitive_word_check(value: Any) -> bool | None:
    """True (ENABLE), False (DISABLE) or None (not said: the operator's default)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidField("sensitive_word_check", '{"type": "ALL", "status": "ENABLE" | "DISABLE"}')
    status = value.get("status")
    if status is None:
        return None
    if not isinstance(status, str) or status.upper() not in STATUSES:
        raise InvalidField("sensitive_word_check.status", "ENABLE or DISABLE")
    return status.upper() == "ENABLE"


class AnswerGate:
    """Wraps one generation's events; releases answer text only once it has been checked."""

    def __init__(self, moderator: RuleModerator, prompt_tokens: int, every_chars: int) -> None:
        self._moderator = moderator
        self._prompt_tokens = prompt_tokens
        self._every = every_chars
        self.checks = 0  # how many times the answer was checked (cost is visible in tests)

    def _blocked(self, text: str) -> bool:
        self.checks += 1
        return self._moderator.check(text).risk_level == RISK_REJECT

    def _due(self, piece: str, unchecked: int) -> bool:
        return unchecked >= self._every or any(c in SENTENCE_ENDS for c in piece)

    async def guard(self, events: AsyncGenerator[Event, None]) -> AsyncGenerator[Event, None]:
        text, unchecked = "", 0
        held: list[TextDelta] = []
        tokens = reasoning = 0
        async with aclosing(events) as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    text, unchecked = text + event.text, unchecked + len(event.text)
                    tokens += event.tokens
                    held.append(event)
                    if not self._due(event.text, unchecked):
                        continue
                elif isinstance(event, ReasoningDelta):
                    tokens, reasoning = tokens + event.tokens, reasoning + event.tokens
                if unchecked and self._blocked(text):  # before anything after it goes out
                    if isinstance(event, Finished):
                        yield replace(event, reason="sensitive")
                    else:
                        yield Finished("sensitive", self._prompt_tokens, tokens, reasoning)
                    return
                unchecked = 0
                for delta in held:
                    yield delta
                held.clear()
                if not isinstance(event, TextDelta):
                    yield event


class ChatModeration:
    """Built once in `create_app` around the platform's rule moderator."""

    def __init__(self, moderator: RuleModerator, settings: ModerationSettings) -> None:
        self._moderator = moderator
        self._by_default = settings.check_chat_by_default
        self._every = settings.chat_check_every_chars

    def enabled(self, request: ChatRequest) -> bool:
        return self._by_default if request.sensitive_check is None else request.sensitive_check

    def check_prompt(self, request: ChatRequest) -> None:
        """1301 when a user message is blocked (each message alone: none spans two)."""
        if not self.enabled(request):
            return
        for message in request.messages:
            content = message.content if message.role == "user" else None
            if content and self._moderator.check(content).risk_level == RISK_REJECT:
                raise UnsafeContent(param="messages")

    def answer_gate(self, request: ChatRequest, prompt_tokens: int) -> AnswerGate | None:
        if not self.enabled(request):
            return None
        return AnswerGate(self._moderator, prompt_tokens, self._every)
