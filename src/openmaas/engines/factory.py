"""Builds an engine for each catalog entry; heavy engines are imported only when used."""

from __future__ import annotations

import os

from openmaas.config import ModelConfig, Settings
from openmaas.engines.base import ChatEngine
from openmaas.engines.fake import FakeChatEngine


def apply_omp_wait_policy(policy: str, spin_count: int | None = None) -> None:
    """OpenMP reads its wait policy once, when the first OpenMP library loads; values
    already in the environment win. The spin count bounds "default"'s spin only: libgomp
    would also make PASSIVE or ACTIVE threads spin that long."""
    if policy != "default":
        os.environ.setdefault("OMP_WAIT_POLICY", policy)
    elif spin_count is not None:
        os.environ.setdefault("GOMP_SPINCOUNT", str(spin_count))


def build_chat_engine(model: ModelConfig, settings: Settings) -> ChatEngine:
    if model.engine == "fake":
        return FakeChatEngine(
            context_window=model.context_window,
            token_delay=float(model.options.get("token_delay", 0.0)),
            thinking=model.thinking,
            prefix_cache=bool(model.options.get("prefix_cache", False)),
        )
    if model.engine == "upstream":
        from openmaas.engines.upstream import UpstreamChatEngine
        from openmaas.engines.upstream_http import UpstreamTarget

        target = UpstreamTarget.build(
            model.name, model.upstreams, model.upstream_model, model.api_key_env, model.options
        )
        return UpstreamChatEngine(target, context_window=model.context_window, thinking=model.thinking)
    apply_omp_wait_policy(settings.omp_wait_policy, settings.omp_spin_count)
    from openmaas.engines.llamacpp import LlamaCppEngine, resolve_serving_path

    return LlamaCppEngine(
        model_path=resolve_serving_path(model, settings),
        context_window=model.context_window,
        threads=settings.engine_threads,
        parallel=int(model.options.get("parallel", 4)),
        # options.decode_width = "all" batches every running decode (no start-up measurement)
        measure_widths=model.options.get("decode_width", "measure") != "all",
        thinking=model.thinking,
    )
