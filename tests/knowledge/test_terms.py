"""BM25 terms: Chinese words and characters, question words, identifiers."""

from __future__ import annotations

from openmaas.knowledge.terms import terms


def test_a_chinese_question_matches_a_differently_segmented_passage():
    question, passage = set(terms("星期五午饭有什么鱼？")), set(terms("周五中午供应清蒸鲈鱼。"))
    assert "鲈鱼" in passage and "鱼" in passage  # the word and its characters
    assert {"鱼", "午"} <= question & passage


def test_question_words_and_punctuation_are_dropped():
    words = terms("售后电话号码是多少？ How many sensors? It's manager's sign-off")
    assert "多少" not in words and "是" not in words and "？" not in words
    assert {"how", "many", "s", "t"}.isdisjoint(words)
    assert {"售后", "电话", "号码", "电话号码", "sensor", "manager"} <= set(words)


def test_identifiers_keep_their_parts_and_a_joined_form():
    assert {"e", "204", "e204"} <= set(terms("错误代码E-204"))
    assert {"hx", "40", "hx40"} <= set(terms("the HX-40 robot"))
    assert {"max", "idle", "maxidleconns"} <= set(terms("set max_idle_conns"))
    assert "v231" in terms("firmware v2.3.1") and "_" not in terms("a_b")


def test_other_scripts_are_whole_words():
    assert terms("Café naïve") == ["café", "naïve"]
