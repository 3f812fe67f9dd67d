"""How many running sequences one decode step carries: measured on this CPU, at start-up.

Batching pays only where one step of `w` sequences costs less than `w` steps of one. On the
packaged 0.5B (Q5_0/Q8_0 rows, no repacked GEMM) two sequences per step decoded slower in
aggregate than one after the other (0.80x, bench/batch_ceiling.py); on a repacked variant
batching scales. So the engine times one decode step at every width up to its slots when it
loads, and each step decodes the `w` running sequences (oldest-served first: every sequence
takes its turn) for which `w / step(w)` is highest. Prompt prefill is not limited by this; a
new request's first token comes from its prefill step as before.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass

import llama_cpp as C

from openmaas.engines.llama_runtime import Batch, Runtime

log = logging.getLogger(__name__)
WIDER_WITHIN = 0.03  # a wider step within 3 % of the best throughput is taken (steadier pacing)
ROUNDS = 3


@dataclass(frozen=True)
class StepCosts:
    seconds: tuple[float, ...]  # seconds[w - 1]: one decode step of w sequences, one token each
    # prompt tokens one step may prefill while other sequences decode (None: as many as fit),
    # measured to take about `prefill_seconds`
    prefill_chunk: int | None = None
    prefill_seconds: float = 0.0

    @classmethod
    def uniform(cls, slots: int) -> StepCosts:
        """Batch everything that runs (no measurement: the widest step always wins)."""
        return cls(tuple(1.0 for _ in range(slots)))

    def best_width(self, running: int) -> int:
        """The number of the `running` decodes to put in one step."""
        widths = range(1, min(running, len(self.seconds)) + 1)
        if not widths:
            return running
        rates = {w: w / self.seconds[w - 1] for w in widths}
        best = max(rates.values())
        return max(w for w, rate in rates.items() if rate >= best * (1 - WIDER_WITHIN))

    def describe(self) -> str:
        return ", ".join(f"{w}: {w / s:.0f} tok/s" for w, s in enumerate(self.seconds, start=1))


def measure_step_costs(runtime: Runtime, batch: Batch, rounds: int = ROUNDS) -> StepCosts:
    """Times one decode step at each width 1..slots (median of `rounds`, after a warm-up),
    with the logits of every sequence computed as a real step computes them; the sequences'
    cache is emptied afterwards."""
    token = C.llama_vocab_bos(runtime.vocab) if C.llama_vocab_bos(runtime.vocab) >= 0 else 0
    seconds = []
    for width in range(1, runtime.slots + 1):
        times = []
        for position in range(rounds + 1):
            batch.clear()
            for seq_id in range(width):
                batch.add(token, position, seq_id, True)
            began = time.perf_counter()
            if batch.decode(runtime) != 0:
                return StepCosts.uniform(runtime.slots)
            if position:  # the first step of a width warms its graph up
                times.append(time.perf_counter() - began)
        for seq_id in range(width):
            C.llama_memory_seq_rm(runtime.memory, seq_id, 0, -1)
        seconds.append(statistics.median(times))
    costs = StepCosts(tuple(seconds))
    log.info("decode step throughput by width: %s", costs.describe())
    return costs


@dataclass
class PrefillPacer:
    """Prompt tokens per step while others decode, kept near a step time: it starts from the
    start-up measurement and follows the prompt steps it sees, since a chunk deep into a long
    prompt costs more than one at its start (attention over the tokens before it)."""

    seconds: float
    chunk: int
    # below this a chunk deep into a long prompt loses most of prefill's speed (the packaged
    # 1.5B 3,000 tokens in: 25 ms a token in chunks of 20, 6 ms at the start in chunks of 80)
    smallest: int = 64
    largest: int = 512

    def observe(self, tokens: int, seconds: float) -> None:
        if tokens > 0 and seconds > 0:
            wanted = tokens * self.seconds / seconds
            self.chunk = int(min(max((self.chunk + wanted) / 2, self.smallest), self.largest))


def step_seconds(
    runtime: Runtime, batch: Batch, tokens: int, all_logits: bool = True, rounds: int = 3
) -> float:
    """One decode step of `tokens` tokens of one sequence (median of `rounds` after a warm-up),
    with logits at every position (a verify step) or only the last (a prompt chunk); the
    sequence's cache is emptied afterwards. Raises RuntimeError if llama.cpp cannot decode."""
    token = max(C.llama_vocab_bos(runtime.vocab), 0)
    times = []
    for attempt in range(rounds + 1):
        batch.clear()
        for i in range(tokens):
            batch.add(token, i, 0, all_logits or i == tokens - 1)
        began = time.perf_counter()
        failed = batch.decode(runtime) != 0
        C.llama_memory_seq_rm(runtime.memory, 0, 0, -1)
        if failed:
            raise RuntimeError("llama.cpp could not decode a timing step")
        if attempt:
            times.append(time.perf_counter() - began)
    return statistics.median(times)


def prefill_chunk(runtime: Runtime, batch: Batch, target_seconds: float) -> int:
    """The prompt tokens one step can prefill within `target_seconds` at a prompt's start: a
    step of 32 and one of 128 prompt tokens timed, cost taken as linear in tokens between
    them (it nearly is on this CPU). `PrefillPacer` then follows the steps it sees, since
    deeper into a long prompt a chunk costs more."""
    small, large = (min(n, batch.capacity) for n in (32, 128))
    try:
        timing = {n: step_seconds(runtime, batch, n, all_logits=False, rounds=1) for n in (small, large)}
    except RuntimeError:
        return batch.capacity
    per_token = max((timing[large] - timing[small]) / max(large - small, 1), 1e-6)
    fixed = max(timing[small] - small * per_token, 0.0)
    chunk = max(PrefillPacer.smallest, min(int((target_seconds - fixed) / per_token), runtime.n_batch))
    log.info(
        "prefill: %.1f ms per prompt token (+%.1f ms a step); %d tokens a step while others decode",
        per_token * 1000,
        fixed * 1000,
        chunk,
    )
    return chunk
