"""A serving variant derived by llama.cpp's real quantizer from the real packaged 0.5B: the
output is the pinned file (sha256), and the engine serves it."""

from __future__ import annotations

import asyncio

import pytest

from openmaas.catalog import variants, weights
from openmaas.engines.base import ChatMessage, SamplingParams, TextDelta
from openmaas.engines.llamacpp import LlamaCppEngine
from tests.conftest import assembled_default_model

pytestmark = pytest.mark.slow


def test_q4_0_of_the_05b_is_derived_pinned_and_served(tmp_path):
    package = weights.package_for("qwen2.5-coder-0.5b-instruct-q4_k_m")
    (tmp_path / package.filename).symlink_to(assembled_default_model())
    q4_0 = next(v for v in package.variants if v.name == "q4_0")  # seconds to derive; iq4_nl takes minutes
    grown: list[int] = []
    path = variants.derive(
        tmp_path, package, q4_0, grown.append
    )  # raises unless the sha256 is the pinned one
    assert sum(grown) == q4_0.size and variants.serving_choice(tmp_path, package, "q4_0") == (path, "q4_0")
    assert asyncio.run(first_words(path))


async def first_words(path) -> str:
    engine = LlamaCppEngine(path, context_window=512, threads=2, parallel=1)
    await engine.start()
    try:
        prompt = await engine.prepare([ChatMessage("user", "Name a colour.")])
        params = SamplingParams(max_tokens=6, greedy=True)
        return "".join(
            [e.text async for e in engine.generate(prompt, params, "t") if isinstance(e, TextDelta)]
        )
    finally:
        await engine.close()
