"""LoRA adapters on the real 0.5B engine: applied per request, freed by `forget_adapter`.

The adapter is written here with gguf-py (random rank-8 deltas on every layer's q and v
projections, the shapes llama.cpp's converter writes for a peft q/v LoRA), so no training
is needed; it changes greedy output, which is what the assertions lean on.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from openmaas.engines.adapter_view import AdapterEngine
from openmaas.engines.base import ChatMessage, SamplingParams, TextDelta
from openmaas.engines.llamacpp import LlamaCppEngine
from openmaas.errors import InternalFailure
from tests.engines.conftest import running_engine

pytestmark = pytest.mark.slow
QUESTION = "Name three colours."
LAYERS, WIDTH, KV_WIDTH, RANK = 24, 896, 128, 8  # Qwen2.5-0.5B


def write_lora(path: Path, seed: int = 7) -> Path:
    import gguf

    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(RANK))  # scale 1
    for layer in range(LAYERS):
        for name, out in (("attn_q", WIDTH), ("attn_v", KV_WIDTH)):
            base = f"blk.{layer}.{name}.weight"
            writer.add_tensor(f"{base}.lora_a", rng.normal(0, 0.05, (RANK, WIDTH)).astype(np.float32))
            writer.add_tensor(f"{base}.lora_b", rng.normal(0, 0.05, (out, RANK)).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def engine():
    yield from running_engine(context_window=1024, parallel=2)


async def answer(engine, max_tokens: int = 12) -> str:
    prompt = await engine.prepare([ChatMessage("user", QUESTION)])
    params = SamplingParams(max_tokens=max_tokens, greedy=True)
    return "".join([e.text async for e in engine.generate(prompt, params, "t") if isinstance(e, TextDelta)])


async def forgotten(engine: LlamaCppEngine, path: Path) -> bool:
    return await asyncio.wait_for(asyncio.wrap_future(engine.forget_adapter(path)), 10)


def test_adapter_applies_per_request_and_forgetting_frees_it(engine, tmp_path):
    llm, loop = engine
    adapter = write_lora(tmp_path / "lora.gguf")
    tuned = AdapterEngine(llm, adapter)
    base_text = loop.run_until_complete(answer(llm))
    tuned_text = loop.run_until_complete(answer(tuned))
    assert tuned_text != base_text
    assert loop.run_until_complete(answer(llm)) == base_text  # the base is untouched

    assert loop.run_until_complete(forgotten(llm, adapter)) is True
    assert loop.run_until_complete(forgotten(llm, adapter)) is False  # nothing left to free
    assert loop.run_until_complete(answer(llm)) == base_text
    assert loop.run_until_complete(answer(tuned)) == tuned_text  # loaded again from its file

    tuned.unload()  # what deleting the fine-tuned model does
    assert loop.run_until_complete(forgotten(llm, adapter)) is False  # unload freed it already
    adapter.unlink()
    with pytest.raises(InternalFailure):  # really gone from the engine: no file, no adapter
        loop.run_until_complete(answer(tuned))
    assert loop.run_until_complete(answer(llm)) == base_text


def test_forgetting_an_adapter_in_use_waits_for_its_requests(engine, tmp_path):
    llm, loop = engine
    adapter = write_lora(tmp_path / "lora.gguf", seed=11)
    tuned = AdapterEngine(llm, adapter)
    expected = loop.run_until_complete(answer(tuned, max_tokens=48))

    async def forget_midway() -> tuple[str, bool, bool]:
        prompt = await llm.prepare([ChatMessage("user", QUESTION)])
        parts: list[str] = []
        freed = None
        async for event in tuned.generate(prompt, SamplingParams(max_tokens=48, greedy=True), "t"):
            if isinstance(event, TextDelta):
                parts.append(event.text)
                if freed is None:
                    freed = llm.forget_adapter(adapter)
        await asyncio.sleep(0)
        result = await asyncio.wait_for(asyncio.wrap_future(freed), 10)
        return "".join(parts), result, freed.done()

    text, result, done = loop.run_until_complete(forget_midway())
    assert text == expected  # the running request kept its adapter to the end
    assert result is True and done
