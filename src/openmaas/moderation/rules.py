"""The local rule-based moderator: term lists per category, matched on normalised text."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from openmaas.moderation.settings import ModerationSettings

RISK_PASS, RISK_REVIEW, RISK_REJECT = "PASS", "REVIEW", "REJECT"
_IGNORED = re.compile(r"[\s\W_]+", re.UNICODE)  # spaces and punctuation between characters


@dataclass(frozen=True)
class Verdict:
    risk_level: str  # PASS | REVIEW | REJECT
    risk_types: tuple[str, ...]
    matches: tuple[str, ...]  # the terms that matched (for operators' logs, not the wire)


def normalise(text: str) -> str:
    return _IGNORED.sub("", unicodedata.normalize("NFKC", text).casefold())


def read_term_file(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


class RuleModerator:
    def __init__(self, settings: ModerationSettings) -> None:
        terms = {name: list(values) for name, values in settings.categories.items()}
        for name, path in settings.term_files.items():
            terms.setdefault(name, []).extend(read_term_file(path))
        self._patterns = {name: _pattern(values) for name, values in terms.items() if values}
        self._review = set(settings.review_categories)

    def check(self, text: str) -> Verdict:
        flat = normalise(text)
        found: dict[str, list[str]] = {}
        for name, pattern in self._patterns.items():
            hits = pattern.findall(flat)
            if hits:
                found[name] = sorted(set(hits))
        if not found:
            return Verdict(RISK_PASS, (), ())
        level = RISK_REVIEW if set(found) <= self._review else RISK_REJECT
        return Verdict(level, tuple(sorted(found)), tuple(t for hits in found.values() for t in hits))


def _pattern(terms: list[str]) -> re.Pattern[str]:
    keys = sorted({normalise(t) for t in terms if normalise(t)}, key=len, reverse=True)
    return re.compile("|".join(re.escape(k) for k in keys))
