"""Value types shared by the fine-tuning service, runner and trainer (no torch here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

KIND = "fine_tune"  # the durable job kind
TERMINAL = ("succeeded", "failed", "cancelled")
ACTIVE = ("validating_files", "queued", "running")


@dataclass(frozen=True)
class JobSpec:
    """A create request, already parsed from the wire."""

    model: str
    training_file: str
    validation_file: str | None = None
    n_epochs: int | str = "auto"
    batch_size: int | str = "auto"
    learning_rate_multiplier: float | str = "auto"
    suffix: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class BaseWeights:
    """Where the trainer reads the base model: a Hugging Face directory, else the GGUF."""

    gguf: Path | None = None
    hf_dir: Path | None = None


@dataclass(frozen=True)
class TrainingConfig:
    weights: BaseWeights
    work_dir: Path  # checkpoints, the saved adapter and the base config live here
    n_epochs: int
    batch_size: int
    learning_rate: float
    lora_rank: int = 8
    lora_alpha: int = 16
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    max_seq_tokens: int = 2048
    checkpoint_every: int = 20
    device: str = "auto"
    torch_threads: int | None = None
    seed: int = 1234
    base_cache_dir: Path | None = None  # fp32 copies of GGUF base weights


@dataclass(frozen=True)
class StepReport:
    step: int
    total_steps: int
    epoch: int
    loss: float
    learning_rate: float
    trained_tokens: int
    elapsed: float  # seconds since training started
    step_seconds: float
    val_loss: float | None = None


@dataclass(frozen=True)
class TrainingOutcome:
    stopped: str | None  # None: finished; "cancel" | "shutdown"
    steps: int
    trained_tokens: int
    adapter_dir: Path | None = None
    base_config_dir: Path | None = None


class TrainingObserver(Protocol):
    def message(self, text: str, level: str = "info") -> None: ...

    def step(self, report: StepReport) -> None: ...

    def should_stop(self) -> str | None:
        """ "cancel" or "shutdown" to stop between steps; None to go on."""
        ...
