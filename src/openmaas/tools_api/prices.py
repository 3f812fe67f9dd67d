"""The tool endpoints' price rows: one price-book row per tool, priced per unit (knowledge
retrieval too: the work behind `/knowledge/retrieve` and the chat `retrieval` tool).

Token-priced tools (rerank) use the row's `input_per_1k` and spend like chat (resource
packs, then cash). Every other unit (call, page, second of audio) uses the row's
per-item price (`per_image`, the column images use) and is held and charged in cash per
unit, as images are. No imports of settings or billing here: `config.py` seeds the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class ToolPrice:
    item: str  # the price-book row (and the usage row's model)
    unit: str  # call | page | second | token | video
    yuan_per_unit: str

    @property
    def per_token(self) -> bool:
        return self.unit == "token"

    def price_config(self) -> dict[str, str]:
        """The `PriceConfig` fields of this row."""
        if self.per_token:
            return {"input_per_1k": format(Decimal(self.yuan_per_unit) * 1000, "f")}
        return {"per_image": self.yuan_per_unit}


TOKENIZER = ToolPrice("tool:tokenizer", "call", "0")  # free, as on the platform
RERANK = ToolPrice("tool:rerank", "token", "0.0000008")  # GLM-Rerank: 0.8 元 per million tokens
WEB_SEARCH = ToolPrice("tool:web_search", "call", "0.01")  # search_std
MODERATION = ToolPrice("tool:moderations", "call", "0.0012")
FILE_PARSER = ToolPrice("tool:file_parser", "page", "0.001")
OCR = ToolPrice("tool:ocr", "page", "0.01")
SPEECH = ToolPrice("tool:audio_speech", "second", "0.0005")
TRANSCRIPTION = ToolPrice("tool:audio_transcriptions", "second", "0.001")  # 0.06 元/minute
VIDEO = ToolPrice("tool:videos", "video", "0.5")  # through the video upstream (which bills us)
# Knowledge retrieval, per query token (counted by the base's embedding model). The GLM
# platform publishes no retrieval price of its own (knowledge/price: storage, rerank, tagging;
# embeddings 0.5 元/M tokens), so the default is the embedding price of the query; an
# operator may set this row to 0 to serve retrieval free. Ingestion stays at the embedding
# model's own price.
RETRIEVAL = ToolPrice("knowledge:retrieval", "token", "0.0000005")

ALL = (TOKENIZER, RERANK, WEB_SEARCH, MODERATION, FILE_PARSER, OCR, SPEECH, TRANSCRIPTION, VIDEO, RETRIEVAL)


def default_tool_prices() -> dict[str, dict[str, str]]:
    """item → the `PriceConfig` fields of its row."""
    return {price.item: price.price_config() for price in ALL}
