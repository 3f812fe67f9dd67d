"""BM25 terms: jieba words plus single characters for Chinese, words for the rest.

The same function tokenizes chunks at ingestion and questions at query time. Terms are
lowercased, punctuation, stop words and question words dropped, English plurals folded.

- Chinese: jieba's precise segmentation, plus the dictionary sub-words its search mode
  adds (电话号码 → 电话, 号码), plus each character of a multi-character word (鲈鱼 → 鲈,
  鱼). Word and character indexing together is the usual remedy for segmentation
  mismatches between a question and a passage (星期五午饭有什么鱼 vs 周五中午供应清蒸鲈鱼);
  BM25's IDF keeps common characters cheap.
- Identifiers: a code written with inner punctuation also yields its joined form
  (E-204 → e, 204, e204; v2.3.1 → v2, 3, 1, v231), so an exact code outranks look-alikes
  that share its parts.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator

_WORD = re.compile(r"[^\W_]+")  # letters and digits (\w without the underscore)
_CJK_RUN = re.compile(r"([\u4e00-\u9fff]+)")
_CJK_WORD = re.compile(r"^[\u4e00-\u9fff]{2,}$")
_IDENTIFIER = re.compile(r"[a-z0-9]+(?:[-_./:][a-z0-9]+)+")
_lock = threading.Lock()
_ready = False
_STOPWORD_TEXT = (
    "a an the of to in on at for and or is are was were be been by with as it its this that "
    "what which who whom how why when where do does did from into than then there their"
    " s t i me my you your can could should would will shall may might much many"
    " 的 了 和 是 在 也 就 都 而 及 与 着 或 一个 没有 我们 你们 他们 什么 吗 呢 吧 啊"
    " 多少 哪 哪里 哪儿 哪些 哪个 哪种 怎么 怎样 怎么样 如何 为什么 为何 几 谁 有 要 会 能"
)
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


def chinese_parts(word: str, known) -> Iterator[str]:
    """The sub-words jieba's search mode adds (dictionary 2- and 3-grams), then the
    characters, of a multi-character Chinese word."""
    for n in (2, 3):
        if len(word) > n:
            yield from (word[i : i + n] for i in range(len(word) - n + 1) if known(word[i : i + n]))
    yield from word


def identifiers(text: str) -> Iterator[str]:
    """Joined forms of codes with inner punctuation: hx-40 → hx40."""
    for match in _IDENTIFIER.finditer(text):
        yield re.sub(r"[-_./:]", "", match.group())


def words(text: str) -> Iterator[str]:
    """Chinese runs through jieba (precise mode), everything else split on non-letters."""
    jieba = _jieba()
    for i, run in enumerate(_CJK_RUN.split(text)):
        yield from jieba.cut(run) if i % 2 else _WORD.findall(run)


def terms(text: str) -> list[str]:
    lowered = text.lower()
    known = _jieba().get_FREQ
    out: list[str] = []
    for word in words(lowered):
        if word in STOPWORDS or not _WORD.fullmatch(word):
            continue
        if _CJK_WORD.match(word):
            out.extend(p for p in chinese_parts(word, known) if p not in STOPWORDS)
        out.append(fold(word))
    out.extend(identifiers(lowered))
    return out


def warm_up() -> None:
    """Load jieba's dictionary now (about a second) rather than on the first request."""
    _jieba()
