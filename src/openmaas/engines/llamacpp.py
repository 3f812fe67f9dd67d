"""The embedded engine: llama.cpp (llama-cpp-python) on GGUF weights.

All compute happens on one dedicated inference thread started with the engine: once two
OS threads have called into llama.cpp every later call is ~55% slower here (OpenMP
thread teams), and a single thread also keeps the KV cache consistent. Requests wait in
a fair (round-robin per account) queue; tokens travel back to the event loop through
`call_soon_threadsafe`, so generation never blocks it. Tokenisation for prompt counting
uses a separate vocab-only model, which does no ggml compute.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import random
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from openmaas.catalog import weights
from openmaas.config import ModelConfig, Settings
from openmaas.engines.base import (
    ChatMessage,
    Finished,
    GenerationEvent,
    PreparedPrompt,
    SamplingParams,
    TextDelta,
)
from openmaas.engines.chat_template import ChatTemplate
from openmaas.engines.fair_queue import FairQueue
from openmaas.engines.stops import StopMatcher
from openmaas.errors import InternalFailure

_END = object()


def resolve_model_path(model: ModelConfig, settings: Settings) -> Path:
    if model.path is not None:
        return model.path.expanduser()
    if model.package is None:
        raise ValueError(f"model {model.name}: set `path` or `package`")
    package = weights.package_for(model.package)
    return weights.assembled_path(settings.models_dir, package)


@dataclass
class _Generation:
    prompt: PreparedPrompt
    params: SamplingParams
    loop: asyncio.AbstractEventLoop
    out: asyncio.Queue
    cancelled: threading.Event = field(default_factory=threading.Event)

    def emit(self, item: Any) -> None:
        self.loop.call_soon_threadsafe(self.out.put_nowait, item)


class LlamaCppEngine:
    def __init__(self, model_path: Path, context_window: int, threads: int,
                 omp_wait_policy: str = "PASSIVE", batch_size: int = 512) -> None:
        self.model_path = model_path
        self.context_window = context_window
        self._threads = threads
        self._omp_wait_policy = omp_wait_policy
        self._batch_size = batch_size
        self._queue: FairQueue[_Generation] = FairQueue()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._llm: Any = None
        self._tokenizer: Any = None
        self._template: ChatTemplate | None = None
        self._grammars: dict[str, Any] = {}  # compiled GBNF, used on the inference thread only

    # lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        if not self.model_path.is_file():
            raise InternalFailure(f"model weights not found at {self.model_path}; "
                                  "run `openmaas models assemble`")
        loaded: Future[None] = Future()
        self._thread = threading.Thread(target=self._inference_thread, args=(loaded,),
                                        name=f"llama-{self.model_path.stem}", daemon=True)
        self._thread.start()
        await asyncio.wrap_future(loaded)
        await run_in_threadpool(self._load_tokenizer)

    async def close(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            await run_in_threadpool(self._thread.join, 30)

    def _load_model(self) -> Any:
        os.environ.setdefault("OMP_WAIT_POLICY", self._omp_wait_policy)  # read at library load
        import llama_cpp

        return llama_cpp.Llama(model_path=str(self.model_path), n_ctx=self.context_window,
                               n_threads=self._threads, n_threads_batch=self._threads,
                               n_batch=self._batch_size, verbose=False)

    def _load_tokenizer(self) -> None:
        import llama_cpp

        self._tokenizer = llama_cpp.Llama(model_path=str(self.model_path), vocab_only=True,
                                          verbose=False)
        meta = self._tokenizer.metadata
        template = meta.get("tokenizer.chat_template")
        if not template:
            raise InternalFailure(f"{self.model_path.name} carries no chat template")
        self._template = ChatTemplate(template, *self._special_tokens())

    def _special_tokens(self) -> tuple[str, str]:
        tok = self._tokenizer

        def text(token_id: int) -> str:
            return tok.detokenize([token_id], special=True).decode() if token_id >= 0 else ""

        return text(tok.token_bos()), text(tok.token_eos())

    # requests ----------------------------------------------------------------------------
    async def prepare(self, messages: list[ChatMessage],
                      tools: list[dict[str, Any]] | None = None) -> PreparedPrompt:
        assert self._template is not None, "engine not started"
        text = self._template.render(messages, tools)
        tokens = await run_in_threadpool(self._tokenizer.tokenize, text.encode(), True, True)
        return PreparedPrompt(text=text, token_count=len(tokens), tokens=tuple(tokens))

    async def generate(self, prompt: PreparedPrompt, params: SamplingParams,
                       owner: str) -> AsyncIterator[GenerationEvent]:
        job = _Generation(prompt, params, asyncio.get_running_loop(), asyncio.Queue())
        self._queue.put(owner, job)
        try:
            while (item := await job.out.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            job.cancelled.set()  # a client that went away stops the decode loop

    # the inference thread ----------------------------------------------------------------
    def _inference_thread(self, loaded: Future) -> None:
        try:
            self._llm = self._load_model()
        except BaseException as exc:
            loaded.set_exception(exc)
            return
        loaded.set_result(None)
        while not self._stopping.is_set():
            job = self._queue.get(timeout=0.2)
            if job is None or job.cancelled.is_set():
                if job is not None:
                    job.emit(_END)
                continue
            try:
                self._decode(job)
            except Exception as exc:
                job.emit(InternalFailure(f"generation failed: {exc}"))
            job.emit(_END)
        self._llm.close()

    def _grammar(self, gbnf: str | None) -> Any:
        if gbnf is None:
            return None
        if gbnf not in self._grammars:
            from llama_cpp import LlamaGrammar

            if len(self._grammars) >= 64:
                self._grammars.clear()
            self._grammars[gbnf] = LlamaGrammar.from_string(gbnf, verbose=False)
        return self._grammars[gbnf]

    def _ban(self, texts: tuple[str, ...]) -> Any:
        """A logits processor forbidding special tokens such as `<tool_call>`."""
        if not texts:
            return None
        import numpy as np
        from llama_cpp import LogitsProcessorList

        banned = [ids[0] for t in texts
                  if len(ids := self._tokenizer.tokenize(t.encode(), False, True)) == 1]

        def forbid(_input_ids, logits):
            logits[banned] = -np.inf
            return logits

        return LogitsProcessorList([forbid]) if banned else None

    def _decode(self, job: _Generation) -> None:
        import llama_cpp

        llm, params = self._llm, job.params
        llm.set_seed(params.seed if params.seed is not None else random.getrandbits(31))
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = StopMatcher(params.stop)
        produced, unsent, reason = 0, 0, "length"
        tokens = llm.generate(list(job.prompt.tokens), temp=0.0 if params.greedy else params.temperature,
                              top_p=params.top_p, top_k=40, min_p=0.05, repeat_penalty=1.0,
                              grammar=self._grammar(params.grammar),
                              logits_processor=self._ban(params.banned_texts))
        try:
            for token in tokens:
                if job.cancelled.is_set():
                    return
                if llama_cpp.llama_vocab_is_eog(llm._model.vocab, token):
                    reason = "stop"
                    break
                produced += 1
                unsent += 1
                text = stops.feed(utf8.decode(llm.detokenize([token])))
                if text:
                    job.emit(TextDelta(text, unsent))
                    unsent = 0
                if stops.stopped:
                    reason = "stop"
                    break
                if produced >= params.max_tokens:
                    break
        finally:
            tokens.close()
        tail = "" if stops.stopped else stops.feed(utf8.decode(b"", final=True)) + stops.flush()
        if tail:
            job.emit(TextDelta(tail, unsent))
        job.emit(Finished(reason, job.prompt.token_count, produced))
