"""Thin wrappers over llama.cpp's C API (through llama_cpp's ctypes bindings).

Only the inference thread calls these; they own raw pointers and free them explicitly.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import llama_cpp as C

from openmaas.engines.base import SamplingParams
from openmaas.engines.llama_log import route_llama_log
from openmaas.errors import InternalFailure


@dataclass
class Runtime:
    model: Any
    ctx: Any
    vocab: Any
    memory: Any
    n_vocab: int
    slots: int
    n_batch: int

    def close(self) -> None:
        C.llama_free(self.ctx)
        C.llama_model_free(self.model)


def load_runtime(path: str, context_window: int, slots: int, threads: int, n_batch: int) -> Runtime:
    route_llama_log()  # before the first load: its warnings become log records
    model_params = C.llama_model_default_params()
    model = C.llama_model_load_from_file(path.encode(), model_params)
    if not model:
        raise InternalFailure(f"llama.cpp could not load {path}")
    params = C.llama_context_default_params()
    params.n_ctx = context_window * slots  # each sequence gets a full window (non-unified KV)
    params.n_batch = params.n_ubatch = n_batch
    params.n_seq_max = slots
    params.kv_unified = False
    params.n_threads = params.n_threads_batch = threads
    ctx = C.llama_init_from_model(model, params)
    if not ctx:
        C.llama_model_free(model)
        raise InternalFailure("llama.cpp could not create a context")
    vocab = C.llama_model_get_vocab(model)
    return Runtime(model, ctx, vocab, C.llama_get_memory(ctx), C.llama_vocab_n_tokens(vocab), slots, n_batch)


def build_sampler(runtime: Runtime, params: SamplingParams, seed: int, banned: list[int]) -> Any:
    chain = C.llama_sampler_chain_init(C.llama_sampler_chain_default_params())
    if banned:
        biases = (C.llama_logit_bias * len(banned))(
            *[C.llama_logit_bias(token=t, bias=float("-inf")) for t in banned]
        )
        bias = C.llama_sampler_init_logit_bias(runtime.n_vocab, len(banned), biases)
        C.llama_sampler_chain_add(chain, bias)
    if params.grammar:
        grammar = C.llama_sampler_init_grammar(runtime.vocab, params.grammar.encode(), b"root")
        if not grammar:
            C.llama_sampler_free(chain)
            raise InternalFailure("invalid decoding grammar")
        C.llama_sampler_chain_add(chain, grammar)
    if params.greedy:
        C.llama_sampler_chain_add(chain, C.llama_sampler_init_greedy())
        return chain
    for sampler in (
        C.llama_sampler_init_top_k(40),
        C.llama_sampler_init_top_p(params.top_p, 1),
        C.llama_sampler_init_min_p(0.05, 1),
        C.llama_sampler_init_temp(params.temperature),
        C.llama_sampler_init_dist(seed),
    ):
        C.llama_sampler_chain_add(chain, sampler)
    return chain


class Pieces:
    """Token → bytes, with a reusable buffer."""

    def __init__(self, vocab: Any) -> None:
        self._vocab = vocab
        self._buffer = ctypes.create_string_buffer(256)

    def __call__(self, token: int) -> bytes:
        size = C.llama_token_to_piece(self._vocab, token, self._buffer, len(self._buffer), 0, False)
        if size < 0:
            self._buffer = ctypes.create_string_buffer(-size)
            size = C.llama_token_to_piece(self._vocab, token, self._buffer, len(self._buffer), 0, False)
        return self._buffer.raw[:size]


class Batch:
    """A reusable llama_batch filled token by token."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.raw = C.llama_batch_init(capacity, 0, 1)
        self.size = 0

    def clear(self) -> None:
        self.size = 0

    def add(self, token: int, position: int, seq_id: int, logits: bool) -> int:
        i = self.size
        self.raw.token[i] = token
        self.raw.pos[i] = position
        self.raw.n_seq_id[i] = 1
        self.raw.seq_id[i][0] = seq_id
        self.raw.logits[i] = logits
        self.size += 1
        return i

    def decode(self, runtime: Runtime) -> int:
        self.raw.n_tokens = self.size
        return C.llama_decode(runtime.ctx, self.raw)

    def free(self) -> None:
        C.llama_batch_free(self.raw)


class Adapters:
    """LoRA adapters loaded once and switched on the context between batches."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._loaded: dict[str, Any] = {}
        self.current: str | None = None

    def use(self, path: str | None) -> None:
        if path == self.current:
            return
        if path is None:
            C.llama_set_adapters_lora(self._runtime.ctx, None, 0, None)
        else:
            adapter = self._load(path)
            adapters = (C.llama_adapter_lora_p_ctypes * 1)(adapter)
            scales = (ctypes.c_float * 1)(1.0)
            if C.llama_set_adapters_lora(self._runtime.ctx, adapters, 1, scales):
                raise InternalFailure(f"could not apply LoRA adapter {path}")
        self.current = path

    def _load(self, path: str) -> Any:
        if path not in self._loaded:
            adapter = C.llama_adapter_lora_init(self._runtime.model, path.encode())
            if not adapter:
                raise InternalFailure(f"could not load LoRA adapter {path}")
            self._loaded[path] = adapter
        return self._loaded[path]

    def forget(self, path: str) -> bool:
        """Free one adapter (off the context first if it is on); False if it was not loaded."""
        if path == self.current:
            self.use(None)
        adapter = self._loaded.pop(path, None)
        if adapter is None:
            return False
        C.llama_adapter_lora_free(adapter)
        return True

    def free(self) -> None:
        for adapter in self._loaded.values():
            C.llama_adapter_lora_free(adapter)
        self._loaded.clear()
