"""Cross-lingual retrieval: the question translated zh↔en by a small chat model.

multilingual-e5-small matches an English question to a Chinese passage poorly when English
passages on the same topic compete (bench/knowledge_answers.py: dense recall@5 12–57 % on
cross-lingual dev questions against 95–100 % within one language), and BM25 cannot match
across scripts at all. So when a knowledge base holds passages in the other language, the
question is also searched in translation and the two rankings are merged (RRF); a base in
one language only is searched as before, with no model call.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextlib import aclosing

from openmaas.cjk import HAN
from openmaas.engines.base import ChatEngine, ChatMessage, SamplingParams, TextDelta, generation_stream

log = logging.getLogger(__name__)
LATIN = re.compile(r"[A-Za-z]{3,}")
MAX_TRANSLATION_TOKENS = 96


def language_of(text: str) -> str:
    """'zh' when Chinese characters carry the text, else 'en' (the two the platform serves)."""
    cjk = len(HAN.findall(text))  # characters; a Chinese word is about two of them
    return "zh" if cjk and cjk >= 2 * len(LATIN.findall(text)) else "en"


def translation_messages(question: str) -> list[ChatMessage]:
    target = "English" if language_of(question) == "zh" else "Simplified Chinese (简体中文)"
    return [
        ChatMessage(
            "system",
            f"Translate the user's message into {target}. Keep names, codes, "
            "numbers and units unchanged. Reply with the translation only.",
        ),
        ChatMessage("user", question),
    ]


def first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0].strip('"“”「」') if lines else ""


class QueryTranslator:
    """Translates a question with the chat engine `engine_for()` returns (None: no translation)."""

    def __init__(self, engine_for: Callable[[], ChatEngine | None]) -> None:
        self._engine_for = engine_for

    async def translate(self, question: str, owner: str) -> str | None:
        engine = self._engine_for()
        if engine is None:
            return None
        try:
            prompt = await engine.prepare(translation_messages(question))
            params = SamplingParams(max_tokens=MAX_TRANSLATION_TOKENS, temperature=0.0, greedy=True)
            text = ""
            async with aclosing(generation_stream(engine, prompt, params, owner)) as stream:
                async for event in stream:
                    if isinstance(event, TextDelta):
                        text += event.text
        except Exception:  # a failed translation must not fail the retrieval it would improve
            log.exception("query translation failed")
            return None
        translated = first_line(text)
        if not translated or translated == question or language_of(translated) == language_of(question):
            return None
        return translated
