"""Perplexity of a GGUF on the shipped text (`bench/data/perplexity/`), as llama.cpp's own
`llama-perplexity` computes it: the text cut into windows of `ctx` tokens, each evaluated
from an empty cache, the negative log-likelihood taken over the second half of each window
(every scored token sees at least `ctx / 2` tokens before it)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TEXT_DIR = Path(__file__).resolve().parent / "data" / "perplexity"


@dataclass(frozen=True)
class Perplexity:
    language: str
    tokens_scored: int
    value: float
    tokens_per_s: float  # prompt processing while scoring (all tokens of each window)


def text_tokens(llm, language: str, limit: int | None = None) -> list[int]:
    tokens = llm.tokenize((TEXT_DIR / f"{language}.txt").read_text().encode(), add_bos=False, special=False)
    return tokens[:limit] if limit else tokens


def perplexity(model_path: Path, language: str, ctx: int = 1024, limit: int | None = None) -> Perplexity:
    from llama_cpp import Llama

    llm = Llama(
        str(model_path), n_ctx=ctx, n_batch=ctx, n_ubatch=512, logits_all=True, n_threads=2, verbose=False
    )
    tokens = text_tokens(llm, language, limit)
    nll, scored, started = 0.0, 0, time.perf_counter()
    for start in range(0, len(tokens) - ctx + 1, ctx):
        window = tokens[start : start + ctx]
        llm.reset()
        llm.eval(window)
        logits = np.asarray(llm.scores[ctx // 2 - 1 : ctx - 1], dtype=np.float32)
        targets = np.asarray(window[ctx // 2 :])
        nll -= float(np.sum(_log_softmax_at(logits, targets)))
        scored += len(targets)
    elapsed = time.perf_counter() - started
    processed = (len(tokens) // ctx) * ctx
    return Perplexity(language, scored, math.exp(nll / max(scored, 1)), processed / max(elapsed, 1e-9))


def _log_softmax_at(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    top = logits.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
    return logits[np.arange(len(targets)), targets] - log_sum
