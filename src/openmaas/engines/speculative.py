"""Speculative decoding for a lone stream: a cheap drafter proposes k tokens, the model
checks them all in one pass, and the longest prefix it agrees with is kept.

Only a lone stream speculates: with several streams running, each step already carries
as many tokens as pay on this CPU (decode_width.py), and drafts would crowd them out.

Correctness (what the tests check):
- greedy: each position's token is what the request's own sampler chain picks on the
  verify logits, and a draft token is kept only while it equals that pick, so the output is
  the plain greedy output token for token;
- sampling: drafts are greedy, a point mass q(d) = 1, so the standard rejection scheme keeps
  d with probability p(d) and otherwise samples from p with d removed and renormalised
  (max(0, p - q) / Z). Each emitted token is then distributed exactly as p: the model's
  distribution after the same top-k / top-p / min-p / temperature steps as the plain chain
  (llama_runtime.build_sampler), computed here in numpy.
A grammar keeps its own state inside llama.cpp's sampler and cannot be rewound over rejected
tokens: requests with a grammar decode plainly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from openmaas.engines.base import SamplingParams

TOP_K = 40  # the plain chain's top-k and min-p (llama_runtime.build_sampler)
MIN_P = 0.05


class Drafter(Protocol):
    def propose(self, context: list[int], count: int) -> list[int]:
        """Up to `count` tokens likely to follow `context` (the tokens so far, the last one not
        yet decoded by the model); [] when it has no guess worth checking."""
        ...


@dataclass(frozen=True)
class Candidates:
    """The model's next-token distribution as the plain chain samples it: ids with probs."""

    ids: np.ndarray
    probs: np.ndarray

    def prob(self, token: int) -> float:
        hit = np.flatnonzero(self.ids == token)
        return float(self.probs[hit[0]]) if hit.size else 0.0

    def sample(self, rng: np.random.Generator, without: int | None = None) -> int:
        probs = self.probs
        if without is not None:
            probs = np.where(self.ids == without, 0.0, probs)
            total = probs.sum()
            if total <= 0:  # p(without) was 1, so it was accepted: never reached
                return int(without)
            probs = probs / total
        return int(self.ids[rng.choice(len(probs), p=probs)])


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def candidates(logits: np.ndarray, params: SamplingParams, banned: Sequence[int] = ()) -> Candidates:
    """llama.cpp's chain logit-bias → top-k(40) → top-p → min-p(0.05) → temperature → softmax,
    on one position's logits."""
    z = np.asarray(logits, dtype=np.float64).copy()
    if banned:
        z[list(banned)] = -np.inf
    k = min(TOP_K, z.size)
    ids = np.argpartition(-z, k - 1)[:k]
    ids = ids[np.argsort(-z[ids], kind="stable")]
    ids = ids[np.isfinite(z[ids])]
    top = z[ids]
    if params.top_p < 1.0:
        cumulative = np.cumsum(_softmax(top))
        keep = int(np.searchsorted(cumulative, params.top_p, side="left")) + 1
        ids, top = ids[:keep], top[:keep]
    keep_mask = top >= top[0] + math.log(MIN_P)
    ids, top = ids[keep_mask], top[keep_mask]
    return Candidates(ids, _softmax(top / max(params.temperature, 1e-6)))


def accept_greedy(draft: list[int], pick: Callable[[int], int]) -> list[int]:
    """The tokens to emit: drafts while they equal the model's pick at their position, then
    the model's own pick (a correction, or the bonus token after a fully accepted draft)."""
    out = []
    for position, token in enumerate(draft):
        chosen = pick(position)
        out.append(chosen)
        if chosen != token:
            return out
    out.append(pick(len(draft)))
    return out


def accept_sampled(
    draft: list[int], distribution: Callable[[int], Candidates], rng: np.random.Generator
) -> list[int]:
    """Rejection sampling against a greedy (point-mass) draft: keep d with probability p(d);
    at the first rejection, sample from p without d; after a fully kept draft, sample the
    bonus token from the last position's p."""
    out = []
    for position, token in enumerate(draft):
        p = distribution(position)
        if rng.random() < p.prob(token):
            out.append(token)
            continue
        out.append(p.sample(rng, without=token))
        return out
    out.append(distribution(len(draft)).sample(rng))
    return out


@dataclass
class DraftPolicy:
    """How many tokens to draft, if any: the draft length with the most expected tokens per
    second, from the step costs measured at start-up and the acceptance rate seen so far.

    On a CPU a verify step of n tokens can cost nearly n single steps (the packaged 1.5B
    here: 26 ms for 1 token, 102 ms for 5), and then no draft pays: the stream decodes plainly,
    trying one full-length round every `probe_every` plain steps to keep the rate current."""

    verify_seconds: tuple[float, ...]  # [n - 1]: one step of n tokens of one sequence
    draft_seconds: float  # the drafter's cost per drafted token (0 for prompt lookup)
    kept: float = 2.0  # decayed counts behind the acceptance rate (prior: 2 of 3 kept)
    rejected: float = 1.0
    decay: float = 0.9
    margin: float = 0.05  # a draft must promise 5 % more tokens per second than plain steps
    probe_every: int = 32
    plain_steps: int = 0
    always: bool = False  # draft the longest length every round (benches, tests)
    # tokens per second seen (decayed averages): drafting rounds, and plain steps of a lone stream
    drafted_rate: float | None = None
    plain_rate: float | None = None

    @property
    def acceptance(self) -> float:
        return self.kept / (self.kept + self.rejected)

    def expected_rate(self, length: int) -> float:
        """Tokens per second of rounds drafting `length` tokens (0: plain decoding)."""
        a = min(self.acceptance, 0.999)
        tokens = (1 - a ** (length + 1)) / (1 - a)
        return tokens / (length * self.draft_seconds + self.verify_seconds[length])

    def can_pay(self) -> bool:
        """Whether any draft length would beat plain decoding even if every draft were kept."""
        plain = 1 / self.verify_seconds[0]
        return any(
            (k + 1) / (k * self.draft_seconds + self.verify_seconds[k]) >= plain * (1 + self.margin)
            for k in range(1, len(self.verify_seconds))
        )

    def draft_length(self) -> int:
        """0: decode plainly this step."""
        longest = len(self.verify_seconds) - 1
        if self.always:
            return longest
        best = max(range(1, longest + 1), key=self.expected_rate, default=0)
        promised = best and self.expected_rate(best) >= self.expected_rate(0) * (1 + self.margin)
        if promised and not self._losing():
            return best
        self.plain_steps += 1
        if self.plain_steps >= self.probe_every:
            self.plain_steps = 0
            return longest
        return 0

    def _losing(self) -> bool:
        """What the rounds actually deliver overrules the cost model (which leaves out the
        draft catching up, sampling in Python, and attention deeper into the context)."""
        if self.drafted_rate is None or self.plain_rate is None:
            return False
        return self.drafted_rate < self.plain_rate

    def observe_time(self, tokens: int, seconds: float, drafted: bool) -> None:
        if tokens <= 0 or seconds <= 0:
            return
        rate = tokens / seconds
        old = self.drafted_rate if drafted else self.plain_rate
        new = rate if old is None else old * self.decay + rate * (1 - self.decay)
        if drafted:
            self.drafted_rate = new
        else:
            self.plain_rate = new

    def observe(self, drafted: int, kept: int) -> None:
        self.kept = self.kept * self.decay + kept
        self.rejected = self.rejected * self.decay + (kept < drafted)

    def describe(self) -> str:
        steps = ", ".join(f"{n}: {s * 1000:.0f} ms" for n, s in enumerate(self.verify_seconds, start=1))
        return f"verify step by tokens {steps}; draft {self.draft_seconds * 1000:.1f} ms/token"


class LookupDrafter:
    """Prompt lookup: the tokens that followed the latest earlier occurrence of the context's
    last n tokens (n from `longest` down to `shortest`). Free to compute; it pays where the
    answer repeats its input (quoting passages, editing code, extracting fields)."""

    def __init__(self, longest: int = 4, shortest: int = 2, window: int = 8192) -> None:
        self._longest, self._shortest, self._window = longest, shortest, window

    def propose(self, context: list[int], count: int) -> list[int]:
        recent = np.asarray(context[-self._window :])
        for n in range(self._longest, self._shortest - 1, -1):
            if recent.size <= n:
                continue
            tail = recent[-n:]
            starts = np.flatnonzero(recent[:-n] == tail[0])  # earlier occurrences begin here
            for start in starts[::-1]:
                if np.array_equal(recent[start : start + n], tail):
                    return [int(t) for t in recent[start + n : start + n + count]]
        return []
