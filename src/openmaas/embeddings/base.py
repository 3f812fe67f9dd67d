"""The embedding engine protocol.

An engine is driven from one thread only (the batcher's): `load()` and `embed()` run
there. `count_tokens()` is called from request threads and must be thread-safe.
Vectors come back L2-normalised, float32, one row per input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

InputKind = Literal["query", "passage"]  # asymmetric models (e5) prefix them differently


class EmbeddingEngine(Protocol):
    dim: int
    max_tokens: int

    def load(self) -> None: ...

    def embed(self, texts: Sequence[str], kind: InputKind) -> np.ndarray: ...

    def count_tokens(self, text: str, kind: InputKind) -> int: ...

    def close(self) -> None: ...


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
