"""The LoRA trainer: peft on a catalog model's weights, CPU by default, CUDA when present.

The only module outside engines/ that touches torch, transformers and peft; each
function imports them when it runs, so importing this module costs nothing. The base
weights come from a Hugging Face directory when one is configured, else from the
model's GGUF (transformers dequantises it to fp32). Loss is taken on assistant tokens
only. Every `checkpoint_every` steps (and on a shutdown) the adapter, the optimizer and
the step are saved, so a restarted job resumes where it stopped; the data order is a
seeded function of the epoch, so a resumed run sees the same batches.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openmaas.finetune.dataset import Example
from openmaas.finetune.types import StepReport, TrainingConfig, TrainingObserver, TrainingOutcome

IGNORE = -100
CHECKPOINT = "checkpoint"
ADAPTER = "adapter"
BASE_CONFIG = "base_config"


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]


@dataclass
class LoadedModel:
    model: Any  # a peft model
    tokenizer: Any
    device: str
    base_config: dict[str, Any]


# --- loading ---------------------------------------------------------------------------
def pick_device(preference: str) -> str:
    import torch

    if preference == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return preference


def load_base(config: TrainingConfig) -> tuple[Any, Any]:
    """(model, tokenizer) in fp32 from the HF directory, else the GGUF (through a cache)."""
    quiet()
    weights = config.weights
    if weights.hf_dir is not None:
        return from_pretrained(str(weights.hf_dir))
    if weights.gguf is None:
        raise ValueError("no base weights: set the model's GGUF or options.finetune_hf_dir")
    cache = dequantised_cache(weights.gguf, config.base_cache_dir)
    if cache is not None and (cache / "config.json").is_file():
        return from_pretrained(str(cache))
    model, tokenizer = from_pretrained(str(weights.gguf.parent), gguf_file=weights.gguf.name)
    if cache is not None:
        save_dequantised(model, tokenizer, cache)
    return model, tokenizer


def from_pretrained(source: str, **extra: Any) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source, **extra)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **extra)
    return model, tokenizer


def dequantised_cache(gguf: Path, root: Path | None) -> Path | None:
    """Where the fp32 copy of a GGUF lives: dequantising it takes minutes on 2 cores."""
    if root is None:
        return None
    stat = gguf.stat()
    return root.expanduser() / f"{gguf.stem}-{stat.st_size}-{stat.st_mtime_ns}"


def save_dequantised(model: Any, tokenizer: Any, folder: Path) -> None:
    """A plain fp32 safetensors copy (no GGUF quantization config); best effort."""
    import logging
    import shutil

    staging = folder.with_name(folder.name + ".tmp")
    try:
        model.config.architectures = [type(model).__name__]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    except Exception:
        logging.getLogger(__name__).warning("could not cache the dequantised %s", folder.name, exc_info=True)
        shutil.rmtree(staging, ignore_errors=True)


def quiet() -> None:
    """No progress bars in a server's log; events report progress instead."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


@contextlib.contextmanager
def peft_quiet() -> Iterator[None]:
    """peft calls `is_gradient_checkpointing`, which transformers 5 deprecates."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def save_adapter(model: Any, folder: Path) -> None:
    with peft_quiet():
        model.save_pretrained(str(folder))


def base_config_of(model: Any) -> dict[str, Any]:
    """The config llama.cpp's LoRA converter reads: with `architectures`, without quantization."""
    data = model.config.to_dict()
    data.pop("quantization_config", None)
    if not data.get("architectures"):
        data["architectures"] = [type(model).__name__]
    return data


def attach_lora(model: Any, config: TrainingConfig, device: str) -> Any:
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=0.0,
        target_modules=list(config.target_modules),
        task_type="CAUSAL_LM",
        bias="none",
    )
    with peft_quiet():
        return get_peft_model(model, lora).to(device)


def load_model(config: TrainingConfig) -> LoadedModel:
    import torch

    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    torch.manual_seed(config.seed)
    model, tokenizer = load_base(config)
    base_config = base_config_of(model)
    device = pick_device(config.device)
    return LoadedModel(attach_lora(model, config, device), tokenizer, device, base_config)


# --- encoding --------------------------------------------------------------------------
def render(
    tokenizer: Any,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    generation_prompt: bool = False,
) -> str:
    return tokenizer.apply_chat_template(
        messages, tools=tools, tokenize=False, add_generation_prompt=generation_prompt
    )


def assistant_spans(tokenizer: Any, example: Example, text: str) -> list[tuple[int, int]] | None:
    """Character spans of each assistant turn in `text`; None if the template is not prefix-stable."""
    spans = []
    for i, message in enumerate(example.messages):
        if message["role"] != "assistant":
            continue
        start = len(render(tokenizer, example.messages[:i], example.tools, True)) if i else 0
        upto = render(tokenizer, example.messages[: i + 1], example.tools)
        if not text.startswith(upto) or start > len(upto):
            return None
        spans.append((start, len(upto)))
    return spans


def encode(tokenizer: Any, example: Example) -> Encoded:
    text = render(tokenizer, example.messages, example.tools)
    spans = assistant_spans(tokenizer, example, text)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoded["input_ids"])
    if spans is None:  # unusual template: learn the whole conversation
        return Encoded(ids, list(ids))
    labels = [
        tok if any(s <= begin < e for s, e in spans) else IGNORE
        for tok, (begin, _end) in zip(ids, encoded["offset_mapping"], strict=True)
    ]
    return Encoded(ids, labels)


def encode_all(tokenizer: Any, examples: list[Example], max_seq: int) -> list[Encoded]:
    out = []
    for example in examples:
        item = encode(tokenizer, example)
        if len(item.input_ids) > max_seq:
            raise ValueError(
                f"line {example.line}: {len(item.input_ids)} tokens, more than "
                f"the {max_seq} the trainer takes"
            )
        out.append(item)
    return out


def collate(items: list[Encoded], pad_id: int, device: str) -> dict[str, Any]:
    import torch

    width = max(len(i.input_ids) for i in items)
    ids = [i.input_ids + [pad_id] * (width - len(i.input_ids)) for i in items]
    labels = [i.labels + [IGNORE] * (width - len(i.labels)) for i in items]
    mask = [[1] * len(i.input_ids) + [0] * (width - len(i.input_ids)) for i in items]
    return {
        "input_ids": torch.tensor(ids, device=device),
        "labels": torch.tensor(labels, device=device),
        "attention_mask": torch.tensor(mask, device=device),
    }


def pad_id_of(tokenizer: Any) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


# --- the schedule ----------------------------------------------------------------------
def epoch_batches(count: int, batch_size: int, epoch: int, seed: int) -> list[list[int]]:
    order = random.Random(seed + epoch).sample(range(count), count)
    return [order[i : i + batch_size] for i in range(0, count, batch_size)]


def steps_per_epoch(count: int, batch_size: int) -> int:
    return math.ceil(count / batch_size)


# --- one step --------------------------------------------------------------------------
class LoraStepper:
    """Forward, backward and an AdamW step on a batch; the unit the bench compares."""

    def __init__(self, loaded: LoadedModel, learning_rate: float) -> None:
        import torch

        self.loaded = loaded
        params = [p for p in loaded.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
        self._params = params
        self.pad_id = pad_id_of(loaded.tokenizer)

    def step(self, items: list[Encoded]) -> float:
        import torch

        model = self.loaded.model
        model.train()
        loss = model(**collate(items, self.pad_id, self.loaded.device)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self._params, 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def evaluate(self, items: list[Encoded], batch_size: int) -> float | None:
        import torch

        if not items:
            return None
        model, total, weight = self.loaded.model, 0.0, 0
        model.eval()
        with torch.no_grad():
            for start in range(0, len(items), batch_size):
                chunk = items[start : start + batch_size]
                targets = sum(sum(1 for t in i.labels[1:] if t != IGNORE) for i in chunk)
                loss = model(**collate(chunk, self.pad_id, self.loaded.device)).loss
                total, weight = total + float(loss) * targets, weight + targets
        return total / weight if weight else None


# --- checkpoints -----------------------------------------------------------------------
def save_checkpoint(stepper: LoraStepper, work_dir: Path, step: int, trained_tokens: int) -> None:
    import torch

    target, staging = work_dir / CHECKPOINT, work_dir / f"{CHECKPOINT}.tmp"
    staging.mkdir(parents=True, exist_ok=True)
    save_adapter(stepper.loaded.model, staging)
    torch.save({"optimizer": stepper.optimizer.state_dict()}, staging / "optimizer.pt")
    (staging / "progress.json").write_text(json.dumps({"step": step, "trained_tokens": trained_tokens}))
    _replace_dir(staging, target)


def load_checkpoint(stepper: LoraStepper, work_dir: Path) -> tuple[int, int]:
    """(step, trained_tokens) of the saved checkpoint, loaded into `stepper`; (0, 0) if none."""
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    folder = work_dir / CHECKPOINT
    if not (folder / "progress.json").is_file():
        return 0, 0
    weights = load_file(str(folder / "adapter_model.safetensors"), device=stepper.loaded.device)
    set_peft_model_state_dict(stepper.loaded.model, weights)
    state = torch.load(folder / "optimizer.pt", map_location=stepper.loaded.device, weights_only=True)
    stepper.optimizer.load_state_dict(state["optimizer"])
    progress = json.loads((folder / "progress.json").read_text())
    return int(progress["step"]), int(progress["trained_tokens"])


def _replace_dir(source: Path, target: Path) -> None:
    import shutil

    if target.exists():
        shutil.rmtree(target)
    source.rename(target)


def save_result(loaded: LoadedModel, work_dir: Path) -> tuple[Path, Path]:
    """The final peft adapter and the base model's config (for the GGUF converter)."""
    adapter, base = work_dir / ADAPTER, work_dir / BASE_CONFIG
    save_adapter(loaded.model, adapter)
    base.mkdir(parents=True, exist_ok=True)
    (base / "config.json").write_text(json.dumps(loaded.base_config, indent=1))
    return adapter, base


# --- the loop --------------------------------------------------------------------------
@dataclass
class _Progress:
    step: int
    trained_tokens: int
    started: float


def plan_steps(config: TrainingConfig, count: int) -> Iterator[tuple[int, int, list[int]]]:
    """(global step, epoch, example indexes) for the whole run, in order."""
    per_epoch = steps_per_epoch(count, config.batch_size)
    for epoch in range(config.n_epochs):
        for i, batch in enumerate(epoch_batches(count, config.batch_size, epoch, config.seed)):
            yield epoch * per_epoch + i + 1, epoch + 1, batch


class LoraTrainer:
    def __init__(self, config: TrainingConfig, observer: TrainingObserver) -> None:
        self.config = config
        self.observer = observer

    def run(
        self, train: list[Example], validation: list[Example], loaded: LoadedModel | None = None
    ) -> TrainingOutcome:
        config, observer = self.config, self.observer
        if loaded is None:
            observer.message("Loading base weights")
            began = time.perf_counter()
            loaded = load_model(config)
            observer.message(f"Loaded base weights on {loaded.device} in {time.perf_counter() - began:.0f}s")
        train_items = encode_all(loaded.tokenizer, train, config.max_seq_tokens)
        val_items = encode_all(loaded.tokenizer, validation, config.max_seq_tokens)
        stepper = LoraStepper(loaded, config.learning_rate)
        done, tokens = load_checkpoint(stepper, config.work_dir)
        if done:
            observer.message(f"Resuming from the checkpoint at step {done}")
        progress = _Progress(done, tokens, time.perf_counter())
        stopped = self._loop(stepper, train_items, val_items, progress)
        if stopped == "shutdown":
            save_checkpoint(stepper, config.work_dir, progress.step, progress.trained_tokens)
        if stopped:
            return TrainingOutcome(stopped, progress.step, progress.trained_tokens)
        adapter, base = save_result(loaded, config.work_dir)
        return TrainingOutcome(None, progress.step, progress.trained_tokens, adapter, base)

    def _loop(
        self, stepper: LoraStepper, train: list[Encoded], val: list[Encoded], progress: _Progress
    ) -> str | None:
        config = self.config
        per_epoch = steps_per_epoch(len(train), config.batch_size)
        total = per_epoch * config.n_epochs
        for step, epoch, batch in plan_steps(config, len(train)):
            if step <= progress.step:
                continue
            if stopped := self.observer.should_stop():
                return stopped
            items = [train[i] for i in batch]
            began = time.perf_counter()
            loss = stepper.step(items)
            seconds = time.perf_counter() - began
            progress.step, progress.trained_tokens = (
                step,
                progress.trained_tokens + sum(len(i.input_ids) for i in items),
            )
            val_loss = stepper.evaluate(val, config.batch_size) if step % per_epoch == 0 else None
            self.observer.step(
                StepReport(
                    step,
                    total,
                    epoch,
                    loss,
                    config.learning_rate,
                    progress.trained_tokens,
                    time.perf_counter() - progress.started,
                    seconds,
                    val_loss,
                )
            )
            if step % config.checkpoint_every == 0 and step < total:
                save_checkpoint(stepper, config.work_dir, step, progress.trained_tokens)
        return None
