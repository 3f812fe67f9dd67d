"""Builds an engine for each catalog entry; heavy engines are imported only when used."""

from __future__ import annotations

from openmaas.config import ModelConfig, Settings
from openmaas.engines.base import ChatEngine
from openmaas.engines.fake import FakeChatEngine


def build_chat_engine(model: ModelConfig, settings: Settings) -> ChatEngine:
    if model.engine == "fake":
        return FakeChatEngine(context_window=model.context_window,
                              token_delay=float(model.options.get("token_delay", 0.0)))
    from openmaas.engines.llamacpp import LlamaCppEngine, resolve_model_path

    return LlamaCppEngine(
        model_path=resolve_model_path(model, settings),
        context_window=model.context_window,
        threads=settings.engine_threads,
        omp_wait_policy=settings.omp_wait_policy,
    )
