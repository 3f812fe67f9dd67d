"""A deterministic, weight-free embedding engine for tests: hashed bag of words.

Texts that share words get similar vectors, so retrieval tests behave sensibly without
loading a model. CJK characters count as words one by one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from openmaas.embeddings.base import InputKind, l2_normalise

_WORD = re.compile(r"[\u4e00-\u9fff]|[^\W_]+", re.UNICODE)


def fake_words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


class FakeEmbeddingEngine:
    def __init__(self, dim: int = 64, max_tokens: int = 512, delay: float = 0.0) -> None:
        self.dim = dim
        self.max_tokens = max_tokens
        self.delay = delay  # seconds per call, to make batching observable in tests
        self.calls: list[int] = []  # batch size of every embed() call

    def load(self) -> None:
        return None

    def close(self) -> None:
        return None

    def count_tokens(self, text: str, kind: InputKind) -> int:
        return len(fake_words(text)) + 2

    def embed(self, texts: Sequence[str], kind: InputKind) -> np.ndarray:
        if self.delay:
            import time

            time.sleep(self.delay)
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in fake_words(text) or ["<empty>"]:
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                slot = int.from_bytes(digest[:4], "little") % self.dim
                out[row, slot] += 1.0 if digest[4] & 1 else -1.0
        out[np.all(out == 0, axis=1), 0] = 1.0
        return l2_normalise(out)
