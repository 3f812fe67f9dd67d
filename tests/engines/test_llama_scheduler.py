"""The continuous-batching engine on the real 0.5B weights."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from openmaas.engines.base import ChatMessage, Finished, SamplingParams, TextDelta
from openmaas.engines.llama_scheduler import Slot, fill_order
from tests.engines.conftest import running_engine

pytestmark = pytest.mark.slow
PROMPTS = ["Name three colours.", "用一句话介绍北京。", "What is 2 + 2?", "List two fruits."]


@pytest.fixture(scope="module")
def engine():
    yield from running_engine(context_window=2048, parallel=4)


async def answer(engine, text, **params):
    prompt = await engine.prepare([ChatMessage("user", text)])
    parts, finish = [], None
    sampling = SamplingParams(**({"max_tokens": 16, "greedy": True} | params))
    async for event in engine.generate(prompt, sampling, owner="t"):
        if isinstance(event, TextDelta):
            parts.append(event.text)
        else:
            finish = event
    return "".join(parts), finish


class SequenceStandIn:
    """Just what fill_order reads of a Sequence (no llama.cpp needed)."""

    def __init__(self, seq_id: int, feed: list[int]) -> None:
        self.slot, self.feed = Slot(seq_id), feed


def test_a_batch_is_filled_decodes_first_then_in_sequence_id_order():
    # Prefix reuse hands requests the slot holding their prefix, so the running list is in
    # arrival order, not slot order; llama.cpp wants the batch in sequence-id order.
    active = [
        SequenceStandIn(5, [1]),
        SequenceStandIn(2, [7, 8, 9]),
        SequenceStandIn(0, [3]),
        SequenceStandIn(7, [4]),
        SequenceStandIn(1, [5, 6]),
    ]
    assert [s.slot.seq_id for s in fill_order(active)] == [0, 5, 7, 1, 2]


def test_batched_greedy_output_equals_one_at_a_time(engine):
    llm, loop = engine
    alone = [loop.run_until_complete(answer(llm, p)) for p in PROMPTS]

    async def all_at_once():
        return await asyncio.gather(*[answer(llm, p) for p in PROMPTS])

    together = loop.run_until_complete(all_at_once())
    assert [a[0] for a in alone] == [t[0] for t in together]
    assert all(isinstance(f, Finished) and f.completion_tokens <= 16 for _, f in together)


def test_stop_strings_and_max_tokens(engine):
    llm, loop = engine
    text, finish = loop.run_until_complete(
        answer(llm, "Count from 1 to 10, one number per line.", max_tokens=40, stop=("4",))
    )
    assert "4" not in text and "3" in text and finish.reason == "stop"
    _, finish = loop.run_until_complete(answer(llm, "Write a long poem.", max_tokens=5))
    assert finish.reason == "length" and finish.completion_tokens == 5


def test_cancelling_one_stream_leaves_the_others_running(engine):
    llm, loop = engine

    async def cut_after_two():
        prompt = await llm.prepare([ChatMessage("user", "Write a long story.")])
        seen = 0
        async with aclosing(llm.generate(prompt, SamplingParams(max_tokens=200, greedy=True), "t")) as stream:
            async for _ in stream:
                seen += 1
                if seen == 2:
                    break
        return seen

    async def scenario():
        return await asyncio.gather(cut_after_two(), answer(llm, PROMPTS[0]))

    seen, (text, finish) = loop.run_until_complete(scenario())
    assert seen == 2 and text and finish.reason in ("stop", "length")
    text_again, _ = loop.run_until_complete(answer(llm, PROMPTS[0]))
    assert text_again == text  # the slot freed by the cancel was reused correctly


def test_grammar_and_banned_tokens(engine):
    llm, loop = engine
    grammar = 'root ::= "yes" | "no"'
    text, _ = loop.run_until_complete(answer(llm, "Is the sky blue? Answer yes or no.", grammar=grammar))
    assert text in ("yes", "no")
