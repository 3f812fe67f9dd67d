"""A non-streamed chat answer that ran platform (MCP) tools keeps the model's reasoning."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from types import SimpleNamespace
from typing import Any, cast

from openmaas.agents.tool_rounds import ChatSurfaceRun, PlatformToolItem, RoundEvents
from openmaas.engines.base import Finished, ReasoningDelta, TextDelta


class FakeRounds:
    """Stands in for RoundEvents: one MCP call between a thought and the answer."""

    def __init__(self) -> None:
        self.request = SimpleNamespace(web_search=())
        self.first = SimpleNamespace(request_id="req_1", created=1700000000, model="glm-4")

    async def events(self) -> AsyncGenerator[Any, None]:
        yield ReasoningDelta("look it up, ")
        yield PlatformToolItem({"type": "mcp_call", "name": "lookup"})
        yield ReasoningDelta("then answer")
        yield TextDelta("42")
        yield Finished("stop", 30, 12, reasoning_tokens=7, cached_tokens=5)

    def abandon(self) -> None:
        pass


async def test_collect_keeps_reasoning_and_every_usage_count() -> None:
    result = await ChatSurfaceRun(cast(RoundEvents, FakeRounds())).collect()
    assert result.content == "42"
    assert result.reasoning_content == "look it up, then answer"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (30, 12)
    assert result.usage.reasoning_tokens == 7
    assert result.usage.cached_tokens == 5
    assert result.request_id == "req_1"
