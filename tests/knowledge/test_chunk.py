"""Sentence-aware chunking for Chinese and English, with overlap and custom separators."""

from __future__ import annotations

import pytest

from openmaas.knowledge.chunk import ChunkOptions, chunk_text, split_sentences


def test_sentences_split_on_chinese_and_english_punctuation():
    text = "今天天气很好。我们去公园吧！Are you coming? Yes. 好的；再见…\n\nNew paragraph"
    assert split_sentences(text) == [
        "今天天气很好。",
        "我们去公园吧！",
        "Are you coming? ",
        "Yes. ",
        "好的；",
        "再见…",
        "\n\n",
        "New paragraph",
    ]
    assert "".join(split_sentences(text)) == text


def test_decimal_points_and_abbreviations_do_not_split():
    assert split_sentences("Pi is 3.14 and e is 2.71.") == ["Pi is 3.14 and e is 2.71."]


def test_chunks_respect_size_and_end_on_sentences():
    sentences = [f"这是第{i}个句子，内容比较短。" for i in range(40)]
    chunks = chunk_text("".join(sentences), ChunkOptions(size=60, overlap=0))
    assert all(len(c) <= 60 for c in chunks)
    assert all(c.endswith("。") for c in chunks)
    assert "".join(chunks) == "".join(sentences)  # nothing lost, nothing repeated


def test_overlap_repeats_the_previous_tail():
    text = " ".join(f"Sentence number {i} is here." for i in range(30))
    chunks = chunk_text(text, ChunkOptions(size=120, overlap=40))
    assert len(chunks) > 3
    for previous, current in zip(chunks, chunks[1:], strict=False):
        assert current.split(".")[0] in previous  # each chunk starts inside its predecessor


def test_long_sentence_is_windowed():
    chunks = chunk_text("长" * 250, ChunkOptions(size=100, overlap=20))
    assert all(len(c) <= 100 for c in chunks) and len(chunks) == 3


def test_custom_separators_split_first():
    chunks = chunk_text("问：一？答：甲。##问：二？答：乙。", ChunkOptions(size=300, separators=("##",)))
    assert chunks == ["问：一？答：甲。", "问：二？答：乙。"]


def test_size_floor():
    with pytest.raises(ValueError):
        ChunkOptions(size=5)
