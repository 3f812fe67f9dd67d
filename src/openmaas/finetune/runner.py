"""The durable fine-tuning job: validating_files → queued → running → succeeded | failed | cancelled.

Training runs on its own thread (torch releases the GIL; the event loop stays free), one
job at a time per process. Between steps the trainer asks whether to stop: "cancel"
when the job's row says cancelled (the API may live in another process), "shutdown"
when this worker is closing — then it saves a checkpoint and the job's lease lapses,
so the next worker (after a restart) resumes from it. A job interrupted too often is
failed by the queue with that reason. Billing: dataset tokens × epochs actually
trained, at the base model's price; a failed job is not charged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openmaas.auth.principal import Principal
from openmaas.concurrency import run_in_threadpool
from openmaas.errors import ModelNotFound, PlatformError
from openmaas.finetune.dataset import Example, load_examples
from openmaas.finetune.errors import TrainingFailed
from openmaas.finetune.service import (
    TRAIN_FILE,
    VALIDATION_FILE,
    FineTuneService,
    base_weights,
    fine_tuned_name,
)
from openmaas.finetune.types import (
    ACTIVE,
    TERMINAL,
    StepReport,
    TrainingConfig,
    TrainingOutcome,
)
from openmaas.store.tables import FineTunedModel, FineTuningJob, Job, utcnow

log = logging.getLogger(__name__)
CANCEL_POLL_SECONDS = 0.2  # between steps, at most this often
SHUTDOWN_GRACE_SECONDS = 120.0
ADAPTER_GGUF = "adapter.gguf"


@dataclass(frozen=True)
class Prepared:
    config: TrainingConfig
    train: list[Example]
    validation: list[Example]
    serve_gguf: bool  # the base runs on llama.cpp: convert the adapter to GGUF


class JobObserver:
    """The trainer's window on the job: events in the DB, cancel flag from the DB."""

    def __init__(self, service: FineTuneService, job_id: str, shutdown: threading.Event) -> None:
        self._store = service.store
        self._job_id = job_id
        self._shutdown = shutdown
        self._checked = 0.0

    def message(self, text: str, level: str = "info") -> None:
        self._store.add_event(self._job_id, text, level)

    def step(self, report: StepReport) -> None:
        text = f"Step {report.step}/{report.total_steps}: training loss={report.loss:.4f}"
        if report.val_loss is not None:
            text += f", validation loss={report.val_loss:.4f}"
        self._store.add_event(self._job_id, text, kind="metrics", data=metrics(report))
        self._store.update(self._job_id, trained_tokens=report.trained_tokens)

    def should_stop(self) -> str | None:
        if self._shutdown.is_set():
            return "shutdown"
        now = time.monotonic()
        if now - self._checked < CANCEL_POLL_SECONDS:
            return None
        self._checked = now
        return "cancel" if self._store.status_of(self._job_id) != "running" else None


def metrics(report: StepReport) -> dict[str, Any]:
    """Event data in both vocabularies (Zhipu: current_steps/eval_loss; OpenAI: step/valid_loss)."""
    rate = report.elapsed / max(report.step, 1)
    return {
        "step": report.step,
        "current_steps": report.step,
        "total_steps": report.total_steps,
        "epoch": report.epoch,
        "loss": round(report.loss, 6),
        "train_loss": round(report.loss, 6),
        "val_loss": _round(report.val_loss),
        "eval_loss": _round(report.val_loss),
        "valid_loss": _round(report.val_loss),
        "learning_rate": report.learning_rate,
        "trained_tokens": report.trained_tokens,
        "elapsed_time": f"{report.elapsed:.1f}",
        "step_time": round(report.step_seconds, 4),
        "remaining_time": f"{rate * (report.total_steps - report.step):.1f}",
    }  # strings: Zhipu types


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


class FineTuneRunner:
    def __init__(self, service: FineTuneService) -> None:
        self._service = service
        self._store = service.store
        self._slot = asyncio.Semaphore(1)  # one training at a time per process

    async def run_job(self, queued: Job, _principal: Principal) -> dict[str, Any]:
        job = await run_in_threadpool(self._store.by_id, queued.payload["job_id"])
        if job is None or job.status in TERMINAL:
            if job is not None and job.hold_id:
                await run_in_threadpool(self._charge, job, 0)
            return {"status": job.status if job else "deleted"}
        try:
            prepared = await run_in_threadpool(self._prepare, job, queued.attempts)
            async with self._slot:
                if not await run_in_threadpool(
                    self._store.transition,
                    job.id,
                    ("queued",),
                    "running",
                    started_at=job.started_at or utcnow(),
                ):
                    return await self._abandoned(job)
                outcome = await self._train(job, prepared)
            return await run_in_threadpool(self._finish, job, prepared, outcome)
        except PlatformError as exc:
            await run_in_threadpool(self._fail, job, exc)
            raise
        except Exception as exc:
            log.exception("fine-tuning job %s failed", job.id)
            failure = TrainingFailed(f"training failed: {type(exc).__name__}: {exc}")
            await run_in_threadpool(self._fail, job, failure)
            raise failure from exc

    # phases ------------------------------------------------------------------------------
    def _prepare(self, job: FineTuningJob, attempt: int) -> Prepared:
        """validating_files: the dataset snapshot and the base model, then queued."""
        service = self._service
        if attempt > 1:
            self._store.add_event(job.id, f"Resuming after an interruption (attempt {attempt})")
        try:
            entry = service.catalog.resolve(job.base_model)
        except ModelNotFound:
            raise TrainingFailed(f"the base model {job.base_model} is no longer in the catalog") from None
        folder = service.job_dir(job.account_id, job.id)
        train = _snapshot(folder / TRAIN_FILE)
        validation = _snapshot(folder / VALIDATION_FILE)
        self._store.transition(job.id, ACTIVE, "queued")
        params, limits = job.hyperparameters, service.config
        config = TrainingConfig(
            weights=base_weights(entry.config, service.settings),
            work_dir=folder,
            n_epochs=params["n_epochs"],
            batch_size=params["batch_size"],
            learning_rate=limits.learning_rate * params["learning_rate_multiplier"],
            lora_rank=limits.lora_rank,
            lora_alpha=limits.lora_alpha,
            target_modules=tuple(limits.target_modules),
            max_seq_tokens=min(entry.config.context_window, limits.max_seq_tokens),
            checkpoint_every=limits.checkpoint_every,
            device=limits.device,
            torch_threads=limits.torch_threads,
            seed=limits.seed,
            base_cache_dir=limits.base_cache_dir,
        )
        return Prepared(config, train, validation, serve_gguf=entry.config.engine == "llamacpp")

    async def _train(self, job: FineTuningJob, prepared: Prepared) -> TrainingOutcome:
        from openmaas.finetune.trainer import LoraTrainer

        shutdown = threading.Event()
        trainer = LoraTrainer(prepared.config, JobObserver(self._service, job.id, shutdown))
        self._store.add_event(job.id, "Fine-tuning job started")
        future = _in_thread(f"finetune-{job.id}", trainer.run, prepared.train, prepared.validation)
        try:
            return await asyncio.shield(asyncio.wrap_future(future))
        except asyncio.CancelledError:
            shutdown.set()  # the worker is closing: checkpoint, and let the lease lapse
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.wrap_future(future), SHUTDOWN_GRACE_SECONDS)
            raise
        except ValueError as exc:  # an example the trainer's tokenizer finds too long
            raise TrainingFailed(str(exc)) from exc

    def _finish(self, job: FineTuningJob, prepared: Prepared, outcome: TrainingOutcome) -> dict[str, Any]:
        if outcome.stopped == "cancel":
            self._charge(job, outcome.trained_tokens)
            self._store.update(job.id, trained_tokens=outcome.trained_tokens)
            self._store.add_event(job.id, f"Training stopped after {outcome.steps} steps (cancelled)")
            return {"status": "cancelled", "steps": outcome.steps}
        adapter = self._export(job, prepared, outcome)
        name = fine_tuned_name(job.base_model, job.suffix, job.id)
        model = FineTunedModel(
            name=name,
            account_id=job.account_id,
            base_model=job.base_model,
            job_id=job.id,
            adapter_path=str(adapter),
            created_at=utcnow(),
        )
        if not self._store.succeed(job.id, model, outcome.trained_tokens):
            self._charge(job, outcome.trained_tokens)
            return {"status": self._store.status_of(job.id)}
        self._service.models.remember(model)
        self._charge(job, outcome.trained_tokens)
        self._store.add_event(job.id, f"New fine-tuned model created: {name}")
        self._store.add_event(job.id, "The job has successfully completed")
        return {"status": "succeeded", "fine_tuned_model": name, "trained_tokens": outcome.trained_tokens}

    def _export(self, job: FineTuningJob, prepared: Prepared, outcome: TrainingOutcome) -> Path:
        assert outcome.adapter_dir is not None and outcome.base_config_dir is not None
        if not prepared.serve_gguf:
            return outcome.adapter_dir  # engines without GGUF adapters (the fake) serve the base
        from openmaas.finetune.export import convert_adapter

        self._store.add_event(job.id, "Converting the LoRA adapter to GGUF for llama.cpp")
        target = prepared.config.work_dir / ADAPTER_GGUF
        return convert_adapter(
            outcome.adapter_dir, outcome.base_config_dir, target, self._service.config.converter_dir
        )

    async def _abandoned(self, job: FineTuningJob) -> dict[str, Any]:
        """Cancelled (or deleted) while it waited: nothing was trained."""
        await run_in_threadpool(self._charge, job, 0)
        return {"status": await run_in_threadpool(self._store.status_of, job.id)}

    def _fail(self, job: FineTuningJob, exc: PlatformError) -> None:
        error = {"code": exc.code, "message": exc.message, "param": exc.param}
        if self._store.transition(job.id, ACTIVE, "failed", error=error, finished_at=utcnow()):
            self._store.add_event(job.id, f"Fine-tuning failed: {exc.message}", level="error")
        self._charge(job, 0)

    def _charge(self, job: FineTuningJob, tokens: int) -> None:
        """Release the job's hold and charge the tokens trained (once per job)."""
        self._service.meter.charge_job(
            job.account_id,
            job.api_key_id,
            f"{job.id}:train",
            job.base_model,
            job.base_model,
            tokens,
            job.hold_id,
        )


def _snapshot(path: Path) -> list[Example]:
    if not path.is_file():
        raise TrainingFailed(f"the job's dataset snapshot {path.name} is missing")
    return load_examples(path.read_bytes())


def _in_thread(name: str, call: Any, *args: Any) -> Future:
    future: Future = Future()

    def target() -> None:
        try:
            future.set_result(call(*args))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=target, name=name, daemon=True).start()
    return future
