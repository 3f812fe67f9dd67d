"""FairQueue: round robin across owners, FIFO within one owner, thread-safe."""

from __future__ import annotations

import threading
import time

from openmaas.engines.fair_queue import FairQueue


def drain(queue: FairQueue) -> list:
    items = []
    while (item := queue.get(timeout=0)) is not None:
        items.append(item)
    return items


def test_round_robin_across_owners_fifo_within():
    queue: FairQueue[str] = FairQueue()
    for i in range(4):
        queue.put("busy", f"busy-{i}")
    queue.put("quiet", "quiet-0")
    queue.put("other", "other-0")
    queue.put("other", "other-1")
    assert len(queue) == 7
    assert drain(queue) == ["busy-0", "quiet-0", "other-0", "busy-1", "other-1", "busy-2", "busy-3"]
    assert len(queue) == 0


def test_an_owner_that_returns_joins_the_back_of_the_rotation():
    queue: FairQueue[str] = FairQueue()
    queue.put("a", "a0")
    queue.put("a", "a1")
    queue.put("b", "b0")
    assert queue.get(timeout=0) == "a0"
    assert queue.get(timeout=0) == "b0"
    queue.put("b", "b1")  # b was empty and comes back after a
    queue.put("c", "c0")
    assert drain(queue) == ["a1", "b1", "c0"]


def test_get_times_out_on_an_empty_queue():
    queue: FairQueue[int] = FairQueue()
    started = time.monotonic()
    assert queue.get(timeout=0.1) is None
    assert 0.08 <= time.monotonic() - started < 2


def test_get_wakes_when_another_thread_puts():
    queue: FairQueue[int] = FairQueue()
    got: list[int | None] = []
    consumer = threading.Thread(target=lambda: got.append(queue.get(timeout=5)))
    consumer.start()
    time.sleep(0.05)
    queue.put("x", 42)
    consumer.join(5)
    assert got == [42]


def test_concurrent_producers_lose_nothing():
    queue: FairQueue[tuple[str, int]] = FairQueue()

    def produce(owner: str) -> None:
        for i in range(200):
            queue.put(owner, (owner, i))

    threads = [threading.Thread(target=produce, args=(f"o{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    items = drain(queue)
    assert len(items) == 800
    for owner in ("o0", "o1", "o2", "o3"):
        assert [i for o, i in items if o == owner] == list(range(200))  # FIFO per owner
