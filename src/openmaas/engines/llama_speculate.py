"""Speculative decoding on the inference thread (the maths is in speculative.py): a draft
model on a context of its own, and the verify step that checks a draft in one batch and
rewinds the KV cache past the first rejected token."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import llama_cpp as C
import numpy as np

from openmaas.engines.decode_width import step_seconds
from openmaas.engines.llama_runtime import Batch, Pieces, Runtime, load_runtime
from openmaas.engines.speculative import (
    Drafter,
    DraftPolicy,
    LookupDrafter,
    accept_greedy,
    accept_sampled,
    candidates,
)

if TYPE_CHECKING:
    from openmaas.engines.llama_scheduler import Sequence

log = logging.getLogger(__name__)


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def logits_row(runtime: Runtime, index: int) -> np.ndarray:
    """A copy of one batch position's logits (the buffer is overwritten by the next decode)."""
    pointer = C.llama_get_logits_ith(runtime.ctx, index)
    return np.ctypeslib.as_array(pointer, shape=(runtime.n_vocab,)).copy()


def vocabulary_mismatch(target: Runtime, draft: Runtime) -> str | None:
    """Why `draft` cannot draft for `target` (None: every token id means the same text)."""
    if target.n_vocab != draft.n_vocab:
        return f"vocabulary sizes differ ({draft.n_vocab} vs {target.n_vocab} tokens)"
    for name in ("llama_vocab_bos", "llama_vocab_eos", "llama_vocab_eot"):
        if getattr(C, name)(target.vocab) != getattr(C, name)(draft.vocab):
            return f"special token ids differ ({name[12:]})"
    target_piece, draft_piece = Pieces(target.vocab), Pieces(draft.vocab)
    for token in range(target.n_vocab):
        ours, theirs = target_piece(token), draft_piece(token)
        if ours != theirs:
            return f"token {token} is {ours!r} in the model, {theirs!r} in the draft"
    return None


class ModelDrafter:
    """A smaller model sharing the vocabulary, greedy, on one sequence of its own context;
    its KV cache follows the stream (only what differs from last time is decoded)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.batch = Batch(runtime.n_batch)
        self._cached: list[int] = []

    def propose(self, context: list[int], count: int) -> list[int]:
        keep = min(common_prefix(self._cached, context), len(context) - 1)
        C.llama_memory_seq_rm(self.runtime.memory, 0, keep, -1)
        del self._cached[keep:]
        draft: list[int] = []
        pending = context[keep:]
        while len(draft) < count:
            if not self._decode(pending):
                return []
            token = int(np.argmax(logits_row(self.runtime, self.batch.size - 1)))
            if C.llama_vocab_is_eog(self.runtime.vocab, token):
                break
            draft.append(token)
            pending = [token]
        return draft

    def _decode(self, tokens: list[int]) -> bool:
        """Puts `tokens` into the draft's cache in batch-sized chunks (logits of the last)."""
        for begin in range(0, len(tokens), self.batch.capacity):
            chunk = tokens[begin : begin + self.batch.capacity]
            self.batch.clear()
            for i, token in enumerate(chunk):
                self.batch.add(token, len(self._cached) + i, 0, i == len(chunk) - 1)
            if self.batch.decode(self.runtime) != 0:
                C.llama_memory_seq_rm(self.runtime.memory, 0, 0, -1)
                self._cached.clear()
                return False
            self._cached.extend(chunk)
        return True

    def close(self) -> None:
        self.batch.free()
        self.runtime.close()


def measure_policy(runtime: Runtime, batch: Batch, drafter: Drafter, longest: int) -> DraftPolicy:
    """Times a verify step of 1..longest+1 tokens and one drafted token, at start-up."""
    verify = tuple(step_seconds(runtime, batch, n) for n in range(1, longest + 2))
    draft = 0.0
    if isinstance(drafter, ModelDrafter):
        draft = step_seconds(drafter.runtime, drafter.batch, 1)
    policy = DraftPolicy(verify, draft)
    log.info("speculative decoding: %s", policy.describe())
    return policy


@dataclass
class Speculator:
    runtime: Runtime
    drafter: Drafter
    policy: DraftPolicy
    context_window: int
    rounds: int = 0
    proposed: int = 0
    accepted: int = 0

    def step(self, seq: Sequence, batch: Batch, room: int) -> list[int] | None:
        """One draft-and-verify round for a decoding sequence, at most `room` tokens out: the
        tokens to emit, or None when there is no draft to check (decode plainly). Raises
        RuntimeError when llama.cpp cannot decode the batch."""
        cached = seq.slot.cached
        base = len(cached)
        room = min(self.policy.draft_length(), room - 1, self.context_window - base - 2)
        if room < 1:
            return None
        draft = self.drafter.propose(cached + seq.feed, room)[:room]
        if not draft:
            return None
        checked = seq.feed + draft
        batch.clear()
        for i, token in enumerate(checked):
            batch.add(token, base + i, seq.slot.seq_id, True)
        if batch.decode(self.runtime) != 0:
            raise RuntimeError("llama.cpp could not decode the draft")
        out = self._accept(seq, draft)
        cached.extend(checked[: len(out)])  # the feed token and the kept drafts
        C.llama_memory_seq_rm(self.runtime.memory, seq.slot.seq_id, base + len(out), -1)
        self.policy.observe(len(draft), len(out) - 1)
        self.rounds, self.proposed, self.accepted = (
            self.rounds + 1,
            self.proposed + len(draft),
            self.accepted + len(out) - 1,
        )
        return out

    def _accept(self, seq: Sequence, draft: list[int]) -> list[int]:
        params = seq.job.params
        if params.greedy:  # the request's own chain (bans, greedy) picks each position
            return accept_greedy(draft, lambda i: C.llama_sampler_sample(seq.sampler, self.runtime.ctx, i))
        return accept_sampled(
            draft, lambda i: candidates(logits_row(self.runtime, i), params, seq.banned), seq.rng
        )

    def describe(self) -> str:
        rate = self.accepted / self.proposed if self.proposed else 0.0
        return (
            f"{self.rounds} rounds, {self.accepted}/{self.proposed} drafted tokens kept ({rate:.0%}); "
            f"{self.policy.describe()}"
        )

    def close(self) -> None:
        if self.rounds:
            log.info("speculative decoding: %s", self.describe())
        if isinstance(self.drafter, ModelDrafter):
            self.drafter.close()


def load_drafter(source: str, target: Runtime, context_window: int, threads: int) -> Drafter | None:
    """`source`: "lookup" or a GGUF path. None (with the reason logged) when the draft model
    cannot load or does not share the model's vocabulary: the model then decodes plainly."""
    if source == "lookup":
        return LookupDrafter()
    try:
        runtime = load_runtime(source, context_window, 1, threads, target.n_batch)
    except Exception as exc:
        log.error("draft model %s not used, decoding plainly: %s", source, exc)
        return None
    mismatch = vocabulary_mismatch(target, runtime)
    if mismatch is not None:
        log.error("draft model %s not used, decoding plainly: %s", source, mismatch)
        runtime.close()
        return None
    return ModelDrafter(runtime)
