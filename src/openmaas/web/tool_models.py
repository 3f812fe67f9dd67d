"""What the playground's tool tabs can try on this server, as rows of the console's model list.

A kind is listed only when its engine is configured, so the Models page offers "Try" only where
something answers; each row names its price-book row and the unit one price buys.
"""

from __future__ import annotations

from openmaas.services import Services
from openmaas.tools_api import prices
from openmaas.tools_api.ocr_service import LAYOUT_MODELS
from openmaas.tools_api.web_search import ENGINES as SEARCH_ENGINES


def tool_entry(name: str, kind: str, root: str, price_item: str, unit: str) -> dict:
    """One row of the console's model list for a tool tab (`unit`: what one price unit buys)."""
    return {
        "id": name,
        "object": "model",
        "created": 0,
        "owned_by": "openmaas",
        "root": root,
        "kind": kind,
        "capabilities": [kind],
        "price_item": price_item,
        "unit": unit,
    }


def tool_models(services: Services) -> list[dict]:
    """The models each tool tab can try here: only kinds whose engine is configured."""
    rows = [
        tool_entry(name, "image", model.name, name, "image")
        for model in services.images.models
        for name in (model.name, *model.config.aliases)
    ]
    tools = services.tools
    if tools is None:
        return rows
    rows += [tool_entry(n, "rerank", n, prices.RERANK.item, "token") for n in tools.rerank.settings.names]
    if tools.ocr.ready:
        rows += [tool_entry(n, "ocr", LAYOUT_MODELS[0], prices.OCR.item, "page") for n in LAYOUT_MODELS]
    if tools.audio.espeak() is not None:
        rows += [
            tool_entry(n, "speech", n, prices.SPEECH.item, "second") for n in tools.audio.settings.tts_names
        ]
    if tools.audio.can_transcribe:
        rows += [
            tool_entry(n, "transcription", n, prices.TRANSCRIPTION.item, "second")
            for n in tools.audio.settings.asr_names
        ]
    if services.search is not None:  # search engines stand in for models: the tab picks one
        rows += [tool_entry(n, "web_search", n, prices.WEB_SEARCH.item, "call") for n in SEARCH_ENGINES]
    return rows
