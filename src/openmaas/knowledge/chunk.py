"""Text → overlapping chunks that end on sentence boundaries (Chinese and English).

Sentences end at 。！？；… (no space needed, as Chinese writes them), at .!?; followed
by whitespace, and at line breaks. Whole sentences are packed into chunks of at most
`size` characters; the next chunk starts with the previous chunk's last sentences, up
to `overlap` characters. A sentence longer than `size` is cut into windows. Custom
separators (the knowledge API's `custom_separator`) are hard boundaries: the text is cut
there first (separators dropped), then each block is chunked by the same rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CJK_ENDERS = set("。！？；…")
LATIN_ENDERS = set(".!?;")
CLOSERS = set("\"'”’」』）)]")


@dataclass(frozen=True)
class ChunkOptions:
    size: int = 300
    overlap: int = 60
    separators: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.size < 20:
            raise ValueError("chunk size must be at least 20 characters")
        object.__setattr__(self, "overlap", max(0, min(self.overlap, self.size // 2)))


def split_sentences(text: str) -> list[str]:
    """Sentences with their trailing punctuation/whitespace kept, so ''.join() == text."""
    pieces: list[str] = []
    start, i, n = 0, 0, len(text)
    while i < n:
        end = _sentence_end(text, i)
        if end is None:
            i += 1
            continue
        while end < n and text[end] in " \t":
            end += 1
        pieces.append(text[start:end])
        start = i = end
    if start < n:
        pieces.append(text[start:])
    return pieces


def _sentence_end(text: str, i: int) -> int | None:
    """If a sentence ends at text[i], the index just past its closing punctuation."""
    char, n = text[i], len(text)
    if char == "\n":
        while i < n and text[i] == "\n":
            i += 1
        return i
    if char in CJK_ENDERS or char in LATIN_ENDERS:
        j = i + 1
        while j < n and (text[j] in CJK_ENDERS or text[j] in LATIN_ENDERS or text[j] in CLOSERS):
            j += 1
        if char in CJK_ENDERS or j >= n or text[j].isspace():
            return j
    return None


def _split_custom(text: str, separators: Sequence[str]) -> list[str]:
    parts = [text]
    for separator in separators:
        if separator:
            parts = [piece for part in parts for piece in part.split(separator)]
    return [p for p in parts if p.strip()]


def _windows(sentence: str, size: int, overlap: int) -> list[str]:
    step = max(1, size - overlap)
    return [sentence[i : i + size] for i in range(0, max(len(sentence) - overlap, 1), step)]


def _units(text: str, options: ChunkOptions) -> list[str]:
    units: list[str] = []
    for sentence in split_sentences(text):
        if len(sentence) > options.size:
            units.extend(_windows(sentence, options.size, options.overlap))
        elif sentence:
            units.append(sentence)
    return units


def chunk_text(text: str, options: ChunkOptions) -> list[str]:
    """Custom separators are hard boundaries (removed); each block is chunked on its own."""
    if options.separators:
        return [c for block in _split_custom(text, options.separators) for c in _pack(block, options)]
    return _pack(text, options)


def _pack(text: str, options: ChunkOptions) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    length = 0
    for unit in _units(text, options):
        if current and length + len(unit) > options.size:
            chunks.append("".join(current).strip())
            current, length = _overlap_tail(current, options.overlap)
            if length + len(unit) > options.size:
                current, length = [], 0
        current.append(unit)
        length += len(unit)
    if current:
        chunks.append("".join(current).strip())
    return [c for c in chunks if c]


def _overlap_tail(sentences: list[str], overlap: int) -> tuple[list[str], int]:
    tail: list[str] = []
    total = 0
    for sentence in reversed(sentences):
        if total + len(sentence) > overlap:
            break
        tail.insert(0, sentence)
        total += len(sentence)
    return tail, total


def under_title(document_name: str, chunk: str) -> str:
    """A chunk as it is embedded, indexed and reranked: under its document's title (the file
    name's stem, separators as spaces), so a chunk that never names its topic is found by it."""
    stem = document_name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    title = " ".join(stem.replace("_", " ").replace("-", " ").split())
    return f"{title}\n{chunk}" if title else chunk
