"""all-MiniLM-L6-v2 (a 6-layer BERT) in NumPy: torch-free, batched with BLAS matmuls.

The sentence-transformers directory's safetensors are read directly; the WordPiece
tokenizer is HuggingFace `tokenizers` on the bundled tokenizer.json. Pipeline: BERT →
mean pooling over the attention mask → L2 normalisation (the model's modules.json).
Batches are cut into length buckets so short texts are not padded to the longest.
BLAS runs on `threads` threads (default 1), set process-wide when the engine loads.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from openmaas.embeddings.base import InputKind, l2_normalise
from openmaas.embeddings.packaged import MINILM_DIR, MINILM_WEIGHTS, locate, verify

_DTYPES = {"F32": np.float32, "I64": np.int64}
BUCKET = 16  # texts per forward pass within one length bucket


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


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU as BERT uses it; erf by Abramowitz–Stegun 7.1.26 (|err| < 1.5e-7)."""
    z = np.abs(x) * np.float32(0.7071067811865476)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                                                                          + t * 1.061405429))))
    erf = np.sign(x) * (1.0 - poly * np.exp(-z * z))
    return (0.5 * x * (1.0 + erf)).astype(np.float32, copy=False)


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class _Layer:
    def __init__(self, t: dict[str, np.ndarray], prefix: str) -> None:
        def w(name: str) -> np.ndarray:
            return np.ascontiguousarray(t[f"{prefix}.{name}.weight"].T)

        def b(name: str) -> np.ndarray:
            return t[f"{prefix}.{name}.bias"]

        self.qkv = np.concatenate([w("attention.self.query"), w("attention.self.key"),
                                   w("attention.self.value")], axis=1)
        self.qkv_b = np.concatenate([b("attention.self.query"), b("attention.self.key"),
                                     b("attention.self.value")])
        self.ao, self.ao_b = w("attention.output.dense"), b("attention.output.dense")
        self.ln1 = (t[f"{prefix}.attention.output.LayerNorm.weight"], b("attention.output.LayerNorm"))
        self.inter, self.inter_b = w("intermediate.dense"), b("intermediate.dense")
        self.out, self.out_b = w("output.dense"), b("output.dense")
        self.ln2 = (t[f"{prefix}.output.LayerNorm.weight"], b("output.LayerNorm"))


class BertEncoder:
    def __init__(self, tensors: dict[str, np.ndarray], heads: int, eps: float) -> None:
        self.word = tensors["embeddings.word_embeddings.weight"]
        self.position = tensors["embeddings.position_embeddings.weight"]
        self.token_type = tensors["embeddings.token_type_embeddings.weight"][0]
        self.ln = (tensors["embeddings.LayerNorm.weight"], tensors["embeddings.LayerNorm.bias"])
        count = 1 + max(int(k.split(".")[2]) for k in tensors if k.startswith("encoder.layer."))
        self.layers = [_Layer(tensors, f"encoder.layer.{i}") for i in range(count)]
        self.heads, self.eps = heads, eps

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """ids, mask: (B, L) → last hidden states (B, L, H)."""
        batch, length = ids.shape
        x = self.word[ids] + self.position[:length] + self.token_type
        x = layer_norm(x, *self.ln, self.eps)
        hidden = x.shape[-1]
        head_dim = hidden // self.heads
        bias = ((1.0 - mask[:, None, None, :]) * -1e9).astype(np.float32)
        for layer in self.layers:
            qkv = x @ layer.qkv + layer.qkv_b
            qkv = qkv.reshape(batch, length, 3, self.heads, head_dim).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q @ k.transpose(0, 1, 3, 2)) * np.float32(1.0 / np.sqrt(head_dim)) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
            x = layer_norm(x + context @ layer.ao + layer.ao_b, *layer.ln1, self.eps)
            inner = gelu(x @ layer.inter + layer.inter_b)
            x = layer_norm(x + inner @ layer.out + layer.out_b, *layer.ln2, self.eps)
        return x


class MiniLMEngine:
    """Symmetric model: queries and passages are embedded the same way."""

    dim = 384

    def __init__(self, model_dir: Path | None = None, max_tokens: int = 256, threads: int = 1) -> None:
        self._dir = model_dir
        self.max_tokens = max_tokens
        self._threads = max(1, threads)
        self._encoder: BertEncoder | None = None
        self._tokenizer = None  # truncates at max_tokens, as sentence-transformers does
        self._counter = None  # same vocabulary, no truncation: honest token counts

    def load(self) -> None:
        if self._encoder is not None:
            return
        from threadpoolctl import threadpool_limits
        from tokenizers import Tokenizer

        # Process-wide: multi-threaded BLAS on a shared 2-core box measured 6x slower
        # (149 ms vs 25 ms per text) than one thread; a server wants it bounded anyway.
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
        self._encoder = BertEncoder(read_safetensors(directory / "model.safetensors"),
                                    config["num_attention_heads"], config["layer_norm_eps"])
        self.dim = int(config["hidden_size"])

    def count_tokens(self, text: str, kind: InputKind) -> int:
        if self._counter is None:
            raise RuntimeError("MiniLM engine not loaded")
        return len(self._counter.encode(text).ids)

    def embed(self, texts: Sequence[str], kind: InputKind) -> np.ndarray:
        self.load()
        assert self._encoder is not None and self._tokenizer is not None
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), BUCKET):
            rows = order[start:start + BUCKET]
            length = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), length), dtype=np.int64)
            mask = np.zeros((len(rows), length), dtype=np.float32)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1.0
            hidden = self._encoder.forward(ids, mask)
            pooled = (hidden * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
            out[rows] = pooled
        return l2_normalise(out)

    def close(self) -> None:
        self._encoder = None
