"""Fine-tuning settings (`settings.finetune`): LoRA shape, defaults, limits and where files go."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

LLAMA_CPP_VERSION = "0.3.36"


def default_converter_dir() -> Path:
    """Where scripts/fetch-llama-converter.sh unpacks llama.cpp's Python converters."""
    return Path("~/.cache/openmaas/llama-cpp-src").expanduser() / LLAMA_CPP_VERSION


class FineTuneSettings(BaseModel):
    enabled: bool = True
    work_dir: Path | None = None  # default: <data_dir>/finetune (datasets, checkpoints, adapters)
    converter_dir: Path = Field(default_factory=default_converter_dir)  # vendor/llama.cpp of the sdist
    lora_rank: int = 8
    lora_alpha: int = 16
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"])
    learning_rate: float = 2e-4  # × the job's learning_rate_multiplier
    default_epochs: int = 3
    max_epochs: int = 50
    max_batch_size: int = 64
    max_seq_tokens: int = 2048  # longer examples are refused (and never above the model's window)
    max_examples: int = 50_000
    checkpoint_every: int = 20  # steps between checkpoints a restarted job resumes from
    device: str = "auto"  # auto (CUDA when present) | cpu | cuda
    torch_threads: int | None = None  # None: torch's default (all cores)
    seed: int = 1234
    # fp32 safetensors copies of dequantised GGUF base weights (loading a GGUF into transformers
    # takes minutes on 2 cores; the copy loads in seconds). None: no cache.
    base_cache_dir: Path | None = Field(default_factory=lambda: Path("~/.cache/openmaas/finetune-base"))
