"""The llama.cpp engine's thinking path on the real 0.5B weights (which do not think by
training: configured as a tag-thinking model, the prompt is opened with `<think>` and what
the model writes is reasoning until it closes the tag). Checks the scheduler's wiring:
reasoning events and counts, the grammar held back while reasoning and applied to the
answer, stop strings on the answer only, and a model without thinking unchanged."""

from __future__ import annotations

import asyncio
import json

import pytest

from openmaas.chat.structured import parse_response_format
from openmaas.config import ThinkingConfig
from openmaas.engines.base import ChatMessage, Finished, ReasoningDelta, SamplingParams, TextDelta, Thinking
from openmaas.engines.llamacpp import LlamaCppEngine
from tests.conftest import assembled_default_model

pytestmark = pytest.mark.slow
QUESTION = [ChatMessage("user", "Is 17 a prime number? Think it through.")]
JSON_GRAMMAR = parse_response_format({"type": "json_object"}).grammar()


@pytest.fixture(scope="module")
def engine():
    llm = LlamaCppEngine(
        assembled_default_model(),
        context_window=1024,
        threads=2,
        parallel=2,
        thinking=ThinkingConfig(switch="none"),
    )
    loop = asyncio.new_event_loop()
    loop.run_until_complete(llm.start())
    yield llm, loop
    loop.run_until_complete(llm.close())
    loop.close()


def generate(engine, thinking: Thinking, **params):
    llm, loop = engine

    async def run():
        prompt = await llm.prepare(QUESTION, thinking=thinking)
        sampling = SamplingParams(**({"max_tokens": 24, "greedy": True} | params))
        return prompt, [e async for e in llm.generate(prompt, sampling, owner="t")]

    return loop.run_until_complete(run())


def texts(events, kind) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


def test_thinking_prompt_is_opened_and_output_is_reasoning(engine):
    prompt, events = generate(engine, Thinking(enabled=True))
    assert prompt.text.endswith("<think>\n") and prompt.think.starts_inside
    finish = events[-1]
    assert isinstance(finish, Finished) and finish.reasoning_tokens > 0
    reasoning = texts(events, ReasoningDelta)
    assert reasoning.strip()
    first_text = next((i for i, e in enumerate(events) if isinstance(e, TextDelta)), len(events))
    assert not any(isinstance(e, ReasoningDelta) for e in events[first_text:])
    if "</think>" not in reasoning:  # a 0.5B rarely closes the tag: then all of it was reasoning
        assert finish.reasoning_tokens == finish.completion_tokens


def test_grammar_waits_for_the_answer(engine):
    _, events = generate(engine, Thinking(enabled=True), grammar=JSON_GRAMMAR)
    reasoning, answer = texts(events, ReasoningDelta), texts(events, TextDelta)
    assert reasoning.strip() and not reasoning.lstrip().startswith("{")  # free text while thinking
    if answer:
        assert answer.lstrip().startswith("{")


def test_thinking_off_applies_the_grammar_from_the_first_token(engine):
    prompt, events = generate(engine, Thinking(enabled=False), grammar=JSON_GRAMMAR, max_tokens=48)
    assert not prompt.text.endswith("<think>\n") and not prompt.think.show
    answer = texts(events, TextDelta)
    assert texts(events, ReasoningDelta) == "" and answer.startswith("{")
    if events[-1].reason == "stop":
        json.loads(answer)


def test_stop_strings_do_not_cut_the_reasoning(engine):
    _, plain = generate(engine, Thinking(enabled=True))
    reasoning = texts(plain, ReasoningDelta)
    word = reasoning.split()[0]
    _, stopped = generate(engine, Thinking(enabled=True), stop=(word,))
    assert texts(stopped, ReasoningDelta) == reasoning  # the stop word appears in the reasoning only
