"""Dynamic batching: one inference thread per engine merges whatever requests are waiting.

Requests never wait for company by default (`wait_ms=0`): while the engine runs a
batch, new requests queue up, and the next call takes all of them at once (up to
`max_items` texts / `max_tokens` tokens; a single larger request still runs, alone).
So a lone request pays no batching delay, and under load one engine call serves many
requests. The engine is only ever touched from this thread (see embeddings/base.py).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from openmaas.embeddings.base import EmbeddingEngine, InputKind

log = logging.getLogger(__name__)
_STOP = object()


@dataclass
class _Pending:
    texts: list[str]
    kind: InputKind
    tokens: int
    future: Future = field(default_factory=Future)


@dataclass
class BatchStats:
    calls: int = 0
    texts: int = 0
    requests: int = 0
    largest: int = 0


class EmbeddingBatcher:
    def __init__(
        self,
        engine: EmbeddingEngine,
        name: str,
        max_items: int = 32,
        max_tokens: int = 8192,
        wait_ms: float = 0.0,
    ) -> None:
        self.engine = engine
        self.name = name
        self.max_items = max_items
        self.max_tokens = max_tokens
        self.wait = wait_ms / 1000.0
        self.stats = BatchStats()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._loaded: Future = Future()
        self._thread: threading.Thread | None = None

    # lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"embed-{self.name}", daemon=True)
            self._thread.start()

    async def ready(self) -> None:
        """Start the thread if needed and wait until the engine has loaded (or failed to)."""
        self.start()
        await asyncio.wrap_future(self._loaded)

    def wait_ready(self) -> None:
        self.start()
        self._loaded.result()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=30)
            self._thread = None

    # requests ----------------------------------------------------------------------------
    def submit(self, texts: Sequence[str], kind: InputKind, tokens: int = 0) -> Future:
        self.start()
        pending = _Pending(list(texts), kind, tokens)
        self._queue.put(pending)
        return pending.future

    async def embed(self, texts: Sequence[str], kind: InputKind, tokens: int = 0) -> np.ndarray:
        future = self.submit(texts, kind, tokens)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()  # still queued: it is skipped; already running: result dropped
            raise

    def embed_blocking(self, texts: Sequence[str], kind: InputKind) -> np.ndarray:
        return self.submit(texts, kind).result()

    # the inference thread ----------------------------------------------------------------
    def _run(self) -> None:
        try:
            self.engine.load()
        except BaseException as exc:  # reported to every caller instead of killing silently
            log.exception("embedding engine %s failed to load", self.name)
            self._loaded.set_exception(exc)
            self._fail_forever(exc)
            return
        self._loaded.set_result(None)
        while True:
            first = self._queue.get()
            if first is _STOP:
                self.engine.close()
                return
            batch, stop = self._gather(first)
            for kind in ("query", "passage"):
                group = [p for p in batch if p.kind == kind]
                if group:
                    self._execute(group)
            if stop:
                self.engine.close()
                return

    def _gather(self, first: _Pending) -> tuple[list[_Pending], bool]:
        batch, items, tokens = [first], len(first.texts), first.tokens
        deadline = time.monotonic() + self.wait
        while items < self.max_items and tokens < self.max_tokens:
            try:
                timeout = deadline - time.monotonic()
                nxt = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is _STOP:
                return batch, True
            batch.append(nxt)
            items += len(nxt.texts)
            tokens += nxt.tokens
        return batch, False

    def _execute(self, group: list[_Pending]) -> None:
        live = [p for p in group if p.future.set_running_or_notify_cancel()]
        if not live:
            return
        texts = [t for p in live for t in p.texts]
        try:
            vectors = self.engine.embed(texts, live[0].kind)
        except BaseException as exc:
            log.exception("embedding batch of %d texts failed", len(texts))
            for p in live:
                p.future.set_exception(exc)
            return
        self.stats.calls += 1
        self.stats.texts += len(texts)
        self.stats.requests += len(live)
        self.stats.largest = max(self.stats.largest, len(texts))
        offset = 0
        for p in live:
            p.future.set_result(vectors[offset : offset + len(p.texts)])
            offset += len(p.texts)

    def _fail_forever(self, exc: BaseException) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if item.future.set_running_or_notify_cancel():
                item.future.set_exception(exc)
