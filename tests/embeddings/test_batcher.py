"""The dynamic batcher: merges waiting requests, never delays a lone one, groups by kind."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from openmaas.embeddings.batcher import EmbeddingBatcher
from openmaas.embeddings.fake import FakeEmbeddingEngine


class BrokenEngine(FakeEmbeddingEngine):
    def load(self) -> None:
        raise RuntimeError("no weights here")


def test_concurrent_requests_share_engine_calls():
    engine = FakeEmbeddingEngine(delay=0.05)
    batcher = EmbeddingBatcher(engine, "fake", max_items=64)

    async def run():
        await batcher.ready()
        return await asyncio.gather(*(batcher.embed([f"text {i}"], "query") for i in range(16)))

    results = asyncio.run(run())
    batcher.close()
    assert [r.shape for r in results] == [(1, 64)] * 16
    assert len(engine.calls) < 16 and max(engine.calls) > 1  # merged into fewer, bigger calls
    assert sum(engine.calls) == 16
    direct = engine.embed(["text 3"], "query")
    assert np.allclose(results[3], direct)  # each caller gets its own rows back


def test_a_lone_request_is_not_held():
    engine = FakeEmbeddingEngine(delay=0.02)
    batcher = EmbeddingBatcher(engine, "fake")
    batcher.wait_ready()
    began = time.perf_counter()
    batcher.embed_blocking(["alone"], "passage")
    assert time.perf_counter() - began < 0.2
    batcher.close()


def test_batch_limits_split_calls():
    engine = FakeEmbeddingEngine(delay=0.05)
    batcher = EmbeddingBatcher(engine, "fake", max_items=4)
    batcher.wait_ready()
    futures = [batcher.submit([f"t{i}"], "query") for i in range(12)]
    for future in futures:
        future.result(timeout=5)
    batcher.close()
    assert max(engine.calls) <= 4 and sum(engine.calls) == 12


def test_query_and_passage_are_embedded_separately():
    engine = FakeEmbeddingEngine(delay=0.05)
    batcher = EmbeddingBatcher(engine, "fake")
    batcher.wait_ready()
    blocker = batcher.submit(["first"], "query")
    time.sleep(0.02)  # the engine is busy with it while the others queue
    mixed = [batcher.submit(["a"], "query"), batcher.submit(["b"], "passage"), batcher.submit(["c"], "query")]
    for future in [blocker, *mixed]:
        future.result(timeout=5)
    batcher.close()
    assert engine.calls[0] == 1 and sorted(engine.calls[1:]) == [1, 2]


def test_cancelled_requests_are_skipped():
    engine = FakeEmbeddingEngine(delay=0.1)
    batcher = EmbeddingBatcher(engine, "fake")
    batcher.wait_ready()
    running = batcher.submit(["busy"], "query")
    time.sleep(0.02)
    gone = batcher.submit(["nobody waits"], "query")
    assert gone.cancel()
    running.result(timeout=5)
    batcher.submit(["after"], "query").result(timeout=5)
    batcher.close()
    assert sum(engine.calls) == 2


def test_load_failure_reaches_every_caller():
    batcher = EmbeddingBatcher(BrokenEngine(), "broken")
    with pytest.raises(RuntimeError, match="no weights"):
        batcher.wait_ready()
    with pytest.raises(RuntimeError, match="no weights"):
        batcher.embed_blocking(["x"], "query")
    batcher.close()
