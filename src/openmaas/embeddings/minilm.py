"""all-MiniLM-L6-v2 (a 6-layer BERT) on the shared ONNX encoder (embeddings/bert.py), torch-free.

The sentence-transformers directory's safetensors are read directly (float32, kept
float32: vectors match sentence-transformers to 1e-4); the WordPiece tokenizer is
HuggingFace `tokenizers` on the bundled tokenizer.json. Pipeline: BERT → mean pooling
over the attention mask → L2 normalisation (the model's modules.json). Batches are cut
into length buckets so short texts are not padded to the longest.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from openmaas.embeddings.base import InputKind, l2_normalise
from openmaas.embeddings.bert import BertEncoder, BertLayer, BertWeights, DenseLinear, TokenEmbeddings
from openmaas.embeddings.packaged import MINILM_DIR, MINILM_WEIGHTS, locate, verify

_DTYPES = {"F32": np.float32, "I64": np.int64}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    with path.open("rb") as source:
        header_len = struct.unpack("<Q", source.read(8))[0]
        header = json.loads(source.read(header_len))
        data = source.read()
    tensors = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=_DTYPES[meta["dtype"]])
        tensors[name] = array.reshape(meta["shape"])
    return tensors


def bert_weights(t: dict[str, np.ndarray], heads: int, eps: float) -> BertWeights:
    """A HuggingFace `BertModel` state dict (no "bert." prefix) → the shared encoder's weights."""

    def linear(*names: str) -> DenseLinear:  # torch Linear stores (out, in)
        weight = np.concatenate([t[f"{n}.weight"] for n in names]).T
        return DenseLinear(np.ascontiguousarray(weight), np.concatenate([t[f"{n}.bias"] for n in names]))

    def norm(name: str) -> tuple[np.ndarray, np.ndarray]:
        return t[f"{name}.weight"], t[f"{name}.bias"]

    def layer(p: str) -> BertLayer:
        return BertLayer(
            qkv=linear(f"{p}.attention.self.query", f"{p}.attention.self.key", f"{p}.attention.self.value"),
            attention_out=linear(f"{p}.attention.output.dense"),
            attention_norm=norm(f"{p}.attention.output.LayerNorm"),
            ffn_in=linear(f"{p}.intermediate.dense"),
            ffn_out=linear(f"{p}.output.dense"),
            ffn_norm=norm(f"{p}.output.LayerNorm"),
        )

    words = t["embeddings.word_embeddings.weight"]
    embeddings = TokenEmbeddings(
        words=lambda ids: words[ids],
        positions=t["embeddings.position_embeddings.weight"],
        token_type=t["embeddings.token_type_embeddings.weight"][0],
    )
    count = 1 + max(int(k.split(".")[2]) for k in t if k.startswith("encoder.layer."))
    return BertWeights(
        embeddings,
        norm("embeddings.LayerNorm"),
        [layer(f"encoder.layer.{i}") for i in range(count)],
        heads,
        eps,
    )


class MiniLMEngine:
    """Symmetric model: queries and passages are embedded the same way."""

    dim = 384

    def __init__(self, model_dir: Path | None = None, max_tokens: int = 256, threads: int = 1) -> None:
        self._dir = model_dir
        self.max_tokens = max_tokens
        self._threads = max(1, threads)
        self._encoder: BertEncoder | None = None
        self._tokenizer: Any = None  # truncates at max_tokens, as sentence-transformers does
        self._counter: Any = None  # same vocabulary, no truncation: honest token counts

    def load(self) -> None:
        if self._encoder is not None:
            return
        from threadpoolctl import threadpool_limits
        from tokenizers import Tokenizer

        # Kept from the NumPy engine, process-wide: NumPy's BLAS (the dense index's matrix @
        # vector) stays at `threads` (multi-threaded BLAS on a shared 2-core box measured 6x
        # slower). The encoder itself runs in ONNX Runtime and does not use it.
        threadpool_limits(limits=self._threads, user_api="blas")
        directory = self._dir or locate(MINILM_DIR)
        if self._dir is None:
            verify(directory / "model.safetensors", MINILM_WEIGHTS.sha256 or "")
        config = json.loads((directory / "config.json").read_text())
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        tokenizer.no_padding()
        self._counter = Tokenizer.from_str(tokenizer.to_str())
        self._counter.no_truncation()
        tokenizer.enable_truncation(max_length=self.max_tokens)
        self._tokenizer = tokenizer
        weights = bert_weights(
            read_safetensors(directory / "model.safetensors"),
            config["num_attention_heads"],
            config["layer_norm_eps"],
        )
        self._encoder = BertEncoder(weights, self._threads)
        self.dim = int(config["hidden_size"])

    def count_tokens(self, text: str, kind: InputKind) -> int:
        if self._counter is None:
            raise RuntimeError("MiniLM engine not loaded")
        return len(self._counter.encode(text).ids)

    def embed(self, texts: Sequence[str], kind: InputKind) -> np.ndarray:
        self.load()
        assert self._encoder is not None and self._tokenizer is not None
        # one by one: encode_batch would start a rayon pool beside llama.cpp's threads (~15 µs a text)
        ids = [self._tokenizer.encode(text).ids for text in texts]
        return l2_normalise(self._encoder.mean_pooled(ids))

    def close(self) -> None:
        self._encoder = None
