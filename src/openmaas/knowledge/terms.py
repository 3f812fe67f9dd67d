"""BM25 terms: jieba word segmentation (search mode) for Chinese, words for the rest.

The same function tokenizes chunks at ingestion and questions at query time. Terms are
lowercased, punctuation and a few stop words dropped, English plurals folded.
"""

from __future__ import annotations

import logging
import re
import threading

_WORDLIKE = re.compile(r"^[\w\u4e00-\u9fff]+$")
_lock = threading.Lock()
_ready = False
_STOPWORD_TEXT = (
    "a an the of to in on at for and or is are was were be been by with as it its this that "
    "what which who whom how why when where do does did from into than then there their"
    " 的 了 和 是 在 也 就 都 而 及 与 着 或 一个 没有 我们 你们 他们 什么 吗 呢 吧 啊")
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def _jieba():
    global _ready
    import jieba

    if not _ready:
        with _lock:
            if not _ready:
                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _ready = True
    return jieba


def fold(word: str) -> str:
    if word.isascii() and len(word) > 4:
        if word.endswith("ies"):
            return word[:-3] + "y"
        if word.endswith("s") and not word.endswith(("ss", "us", "is")):
            return word[:-1]
    return word


def terms(text: str) -> list[str]:
    out = []
    for token in _jieba().cut_for_search(text.lower()):
        token = token.strip()
        if token and _WORDLIKE.match(token) and token not in STOPWORDS:
            out.append(fold(token))
    return out


def warm_up() -> None:
    """Load jieba's dictionary now (about a second) rather than on the first request."""
    _jieba()
