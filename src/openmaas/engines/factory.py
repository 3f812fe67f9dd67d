"""Builds an engine for each catalog entry; heavy engines are imported only when used."""

from __future__ import annotations

import os
from pathlib import Path

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
        # while other requests decode, a step prefills only what fits in this many ms ("none": a
        # whole batch, the running streams wait for it)
        prefill_step_ms=prefill_step_ms(model.options.get("prefill_step_ms", 250)),
        draft=draft_source(model, settings),
        draft_tokens=int(model.options.get("draft_tokens", 4)),
        # "measured" (default): draft only while the measured costs and acceptance say it pays
        draft_always=model.options.get("draft_policy", "measured") == "always",
    )


def prefill_step_ms(value: object) -> float | None:
    return None if value in (None, "none") else float(str(value))


def draft_source(model: ModelConfig, settings: Settings) -> str | None:
    """options.draft: "lookup" (prompt lookup), another llama.cpp catalog model's name (its
    served file drafts) or a GGUF path; None: no speculative decoding."""
    draft = model.options.get("draft")
    if draft is None or draft == "lookup":
        return draft
    from openmaas.engines.llamacpp import resolve_serving_path

    named = next((m for m in settings.models if draft in (m.name, *m.aliases)), None)
    if named is None:
        return str(Path(str(draft)).expanduser())
    if named.engine != "llamacpp":
        raise ValueError(f"model {model.name}: draft {draft!r} is not a llama.cpp model")
    return str(resolve_serving_path(named, settings))
