"""Decode width: a step carries only as many running decodes as pay on this CPU (measured
at start-up), every sequence taking its turn; output is unchanged by it."""

from __future__ import annotations

import asyncio
import queue

import pytest

from openmaas.engines import decode_width
from openmaas.engines.decode_width import StepCosts
from openmaas.engines.fair_queue import FairQueue
from openmaas.engines.llama_scheduler import Scheduler, Slot, stepping
from tests.engines.conftest import running_engine
from tests.engines.test_llama_scheduler import PROMPTS, answer

# tok/s by width as bench/batch_ceiling.py measured the packaged 0.5B: 60, 48, -, 73, ..., 113
PACKAGED_05B = StepCosts((1 / 60, 2 / 48, 3 / 55, 4 / 73, 5 / 80, 6 / 90, 7 / 100, 8 / 113))


class SequenceStandIn:
    """What `stepping` reads of a Sequence (no llama.cpp needed)."""

    def __init__(self, seq_id: int, feed: list[int], last_step: int = -1) -> None:
        self.slot, self.feed, self.last_step = Slot(seq_id), feed, last_step


def test_the_width_with_the_most_tokens_per_second_is_chosen():
    assert [PACKAGED_05B.best_width(n) for n in (1, 2, 3, 4, 8, 12)] == [1, 1, 1, 4, 8, 8]
    assert StepCosts.uniform(4).best_width(3) == 3  # not measured: batch all that runs


def test_a_wider_step_close_to_the_best_is_preferred():
    nearly_linear = StepCosts((0.010, 0.0203, 0.0305))  # 100, 98.5, 98.4 tok/s
    assert nearly_linear.best_width(3) == 3
    assert StepCosts((0.010, 0.0215)).best_width(2) == 1  # 93 tok/s: 7 % worse


def test_left_out_decodes_go_first_next_step_and_prefills_always_go():
    prefill = SequenceStandIn(3, [5, 6, 7])
    a, b, c = SequenceStandIn(0, [1], 4), SequenceStandIn(1, [1], 2), SequenceStandIn(2, [1], 3)
    chosen = stepping([a, prefill, b, c], PACKAGED_05B)  # 3 decodes: width 1
    assert chosen == [prefill, b]  # b waited longest
    turns = []
    for step in range(5, 11):
        (decode,) = [s for s in stepping([a, b, c], PACKAGED_05B) if s is not prefill]
        decode.last_step = step
        turns.append(decode.slot.seq_id)
    assert turns == [1, 2, 0, 1, 2, 0]


async def all_at_once(llm) -> list:
    return await asyncio.gather(*[answer(llm, p) for p in PROMPTS])


@pytest.mark.slow
def test_one_decode_per_step_gives_the_same_greedy_output(monkeypatch):
    """On the real 0.5B with costs that favour one decode per step: four concurrent greedy
    answers equal the ones produced alone, and the measurement ran at start-up."""
    measured = []

    def favour_width_one(runtime, batch, rounds=3):
        measured.append(runtime.slots)
        return PACKAGED_05B

    monkeypatch.setattr(decode_width, "measure_step_costs", favour_width_one)
    for llm, loop in running_engine(context_window=2048, parallel=4):
        alone = [loop.run_until_complete(answer(llm, p)) for p in PROMPTS]

        together = loop.run_until_complete(all_at_once(llm))
        assert [t[0] for t in together] == [a[0] for a in alone]
    assert measured == [4]


@pytest.mark.slow
def test_the_real_measurement_gives_a_cost_per_width():
    for llm, _loop in running_engine(context_window=512, parallel=3):
        costs = llm.step_costs
        assert costs is not None and len(costs.seconds) == 3 and all(0 < s < 30 for s in costs.seconds)


class PrefillStandIn(SequenceStandIn):
    def __init__(self, seq_id: int, feed: list[int]) -> None:
        super().__init__(seq_id, feed)
        self.logits_at = None


def scheduler_with(costs: StepCosts, active: list) -> Scheduler:
    """A scheduler around a runtime stand-in: `_fill_batch` needs only a llama_batch."""
    runtime = type("RuntimeStandIn", (), {"slots": 4, "n_batch": 256, "vocab": None})()
    scheduler = Scheduler(runtime, FairQueue(), lambda texts: [], queue.SimpleQueue(), costs)
    scheduler._active = active
    return scheduler


def test_while_others_decode_prompt_chunks_and_decode_steps_take_turns():
    costs = StepCosts((0.02, 0.04), prefill_chunk=24)
    running, arriving = PrefillStandIn(0, [7]), PrefillStandIn(1, list(range(60)))
    scheduler = scheduler_with(costs, [running, arriving])
    sizes = []
    for _ in range(6):
        scheduler._fill_batch()
        sizes.append(scheduler._batch.size)
        if running.feed == []:
            running.feed = [8]  # the decode sampled its next token
    assert sizes == [24, 1, 24, 1, 12, 1]  # a 24-token chunk, a decode, ... the last 12
    assert arriving.feed == [] and arriving.logits_at is None


def test_a_prompt_alone_or_without_a_measured_chunk_fills_the_batch():
    costs = StepCosts((0.02, 0.04), prefill_chunk=24)
    alone = PrefillStandIn(2, list(range(200)))
    scheduler = scheduler_with(costs, [alone])  # nobody to stall: the whole batch
    scheduler._fill_batch()
    assert scheduler._batch.size == 200 and alone.logits_at == 199
    running, arriving = PrefillStandIn(0, [7]), PrefillStandIn(1, list(range(200)))
    unlimited = scheduler_with(StepCosts((0.02, 0.04)), [running, arriving])
    unlimited._fill_batch()
    assert unlimited._batch.size == 201 and running.logits_at == 0


def test_the_prefill_pacer_follows_prompt_steps_toward_its_step_time():
    pacer = decode_width.PrefillPacer(seconds=0.5, chunk=100)
    for _ in range(8):  # deep into a long prompt a token costs 7 ms, not the 5 measured at 0
        pacer.observe(pacer.chunk, pacer.chunk * 0.007)
    assert 71 <= pacer.chunk <= 73
    pacer.observe(0, 1.0)
    assert 71 <= pacer.chunk <= 73
    for _ in range(8):  # never below the smallest chunk that keeps prefill's speed
        pacer.observe(pacer.chunk, pacer.chunk * 0.050)
    assert pacer.chunk == pacer.smallest
    for _ in range(20):
        pacer.observe(pacer.chunk, pacer.chunk * 0.0001)
    assert pacer.chunk == pacer.largest
