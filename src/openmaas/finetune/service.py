"""Fine-tuning jobs (reference §12): create, retrieve, list, events, cancel, delete; models.delete.

`create` checks everything before anything is written — the base model can be
fine-tuned, the hyperparameters and suffix, every line of the training and validation
files (with line numbers), every example against the context window, and the funds for
dataset tokens × epochs (a hold). Then it writes the dataset snapshot, the job row, its
durable queue row and its first events; a failure on the way leaves nothing behind.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from openmaas.auth.principal import Principal
from openmaas.billing.meter import Meter
from openmaas.billing.service import BillingService
from openmaas.catalog.registry import Catalog, CatalogEntry
from openmaas.concurrency import run_in_threadpool
from openmaas.config import ModelConfig, Settings
from openmaas.engines.base import ChatMessage
from openmaas.errors import InvalidField, ModelUnsupported, NotFound
from openmaas.files.service import FileService
from openmaas.finetune.dataset import Example, dump_examples, parse_dataset
from openmaas.finetune.errors import DatasetInvalid, JobNotCancellable
from openmaas.finetune.models import FineTunedModels
from openmaas.finetune.settings import FineTuneSettings
from openmaas.finetune.store import FineTuneStore
from openmaas.finetune.types import ACTIVE, KIND, BaseWeights, JobSpec
from openmaas.finetune.views import EventView, JobView, event_view, job_view
from openmaas.jobs.queue import JobQueue
from openmaas.store.paging import Page
from openmaas.store.tables import FineTuningJob, new_id, utcnow

SUFFIX = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
TRAIN_FILE, VALIDATION_FILE = "dataset.jsonl", "validation.jsonl"


@dataclass(frozen=True)
class Hyperparameters:
    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float

    def as_dict(self) -> dict[str, int | float]:
        return {
            "n_epochs": self.n_epochs,
            "batch_size": self.batch_size,
            "learning_rate_multiplier": self.learning_rate_multiplier,
        }


@dataclass(frozen=True)
class CheckedDataset:
    train: list[Example]
    validation: list[Example]
    tokens: int  # one pass over the training set


def base_weights(config: ModelConfig, settings: Settings) -> BaseWeights:
    """Where the trainer finds a model's weights; ModelUnsupported if it cannot be fine-tuned."""
    if not settings.finetune.enabled or config.options.get("finetune") is False:
        raise ModelUnsupported(config.name, "fine-tuning")
    if hf_dir := config.options.get("finetune_hf_dir"):
        return BaseWeights(hf_dir=Path(hf_dir).expanduser())
    if config.engine == "llamacpp":
        from openmaas.engines.llamacpp import resolve_model_path

        return BaseWeights(gguf=resolve_model_path(config, settings))
    raise ModelUnsupported(config.name, "fine-tuning")


def resolve_hyperparameters(spec: JobSpec, examples: int, limits: FineTuneSettings) -> Hyperparameters:
    epochs = limits.default_epochs if spec.n_epochs == "auto" else spec.n_epochs
    batch = max(1, min(8, examples // 16)) if spec.batch_size == "auto" else spec.batch_size
    rate = 1.0 if spec.learning_rate_multiplier == "auto" else spec.learning_rate_multiplier
    if not isinstance(epochs, int) or not 1 <= epochs <= limits.max_epochs:
        raise InvalidField("hyperparameters.n_epochs", f"an integer from 1 to {limits.max_epochs}, or auto")
    if not isinstance(batch, int) or not 1 <= batch <= limits.max_batch_size:
        raise InvalidField(
            "hyperparameters.batch_size", f"an integer from 1 to {limits.max_batch_size}, or auto"
        )
    if not isinstance(rate, int | float) or not 0 < rate <= 100:
        raise InvalidField("hyperparameters.learning_rate_multiplier", "a number in (0, 100], or auto")
    return Hyperparameters(epochs, batch, float(rate))


def fine_tuned_name(base: str, suffix: str | None, job_id: str) -> str:
    return f"ft:{base}:{suffix or ''}:{job_id}"


class FineTuneService:
    def __init__(
        self,
        store: FineTuneStore,
        settings: Settings,
        catalog: Catalog,
        files: FileService,
        billing: BillingService,
        models: FineTunedModels,
        meter: Meter,
        jobs: JobQueue,
    ) -> None:
        self.store = store
        self.meter = meter
        self.jobs = jobs
        self.settings = settings
        self.config = settings.finetune
        self.catalog = catalog
        self.files = files
        self.billing = billing
        self.models = models

    @property
    def work_root(self) -> Path:
        return self.config.work_dir or self.settings.data_dir / "finetune"

    def job_dir(self, account_id: str, job_id: str) -> Path:
        return self.work_root / account_id / job_id

    # create ------------------------------------------------------------------------------
    async def create(self, principal: Principal, spec: JobSpec) -> JobView:
        entry = self._base_entry(spec.model)
        base_weights(entry.config, self.settings)
        if spec.suffix is not None and not SUFFIX.match(spec.suffix):
            raise InvalidField("suffix", "1-40 letters, digits, '-' or '_'")
        data = await self._checked_dataset(principal, spec, entry)
        params = resolve_hyperparameters(spec, len(data.train), self.config)
        job_id = new_id("ftjob-")[:30]
        estimate = data.tokens * params.n_epochs
        # training is priced by the base model (its canonical name), whatever alias was named
        hold_id = await self.meter.hold_for_job(principal, entry.name, entry.name, estimate, f"{job_id}:hold")
        try:
            return job_view(
                await run_in_threadpool(
                    self._write_job, principal, spec, entry, data, params, job_id, estimate, hold_id
                )
            )
        except BaseException:
            if hold_id:
                await self.meter.release_job_hold_soon(hold_id)
            raise

    def _base_entry(self, model: str) -> CatalogEntry:
        if model.startswith("ft:"):
            raise ModelUnsupported(model, "fine-tuning (fine-tune its base model instead)")
        return self.catalog.resolve(model)

    async def _checked_dataset(
        self, principal: Principal, spec: JobSpec, entry: CatalogEntry
    ) -> CheckedDataset:
        train = await run_in_threadpool(self._read_file, principal, spec.training_file, "training_file")
        validation = []
        if spec.validation_file:
            validation = await run_in_threadpool(
                self._read_file, principal, spec.validation_file, "validation_file"
            )
        tokens = await self._count_tokens(entry, train, "training_file")
        await self._count_tokens(entry, validation, "validation_file")
        return CheckedDataset(train, validation, tokens)

    def _read_file(self, principal: Principal, file_id: str, field: str) -> list[Example]:
        try:
            row, stream = self.files.open_content(principal, file_id)
        except NotFound:
            raise InvalidField(field, f"no file {file_id!r} in this account") from None
        with stream:
            if row.purpose != "fine-tune":
                raise InvalidField(
                    field,
                    f"the file's purpose is {row.purpose!r}; upload training data with purpose fine-tune",
                )
            return parse_dataset(stream, field, self.config.max_examples)

    async def _count_tokens(self, entry: CatalogEntry, examples: list[Example], field: str) -> int:
        limit = min(entry.config.context_window, self.config.max_seq_tokens)
        total = 0
        for example in examples:
            messages = [
                ChatMessage(
                    m["role"], m["content"], m.get("tool_calls"), m.get("tool_call_id"), m.get("name")
                )
                for m in example.messages
            ]
            count = (await entry.engine.prepare(messages, example.tools)).token_count
            if count > limit:
                raise DatasetInvalid(
                    field,
                    f"the example has {count} tokens; {entry.name} trains on at "
                    f"most {limit} (its context window)",
                    example.line,
                )
            total += count
        return total

    def _write_job(
        self,
        principal: Principal,
        spec: JobSpec,
        entry: CatalogEntry,
        data: CheckedDataset,
        params: Hyperparameters,
        job_id: str,
        estimate: int,
        hold_id: str | None,
    ) -> FineTuningJob:
        folder = self.job_dir(principal.account_id, job_id)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            (folder / TRAIN_FILE).write_bytes(dump_examples(data.train))
            (folder / VALIDATION_FILE).write_bytes(dump_examples(data.validation))
            job = _new_job(principal, spec, entry, data, params, job_id, estimate, hold_id)
            enqueue = partial(
                self.jobs.enqueue, principal=principal, kind=KIND, payload={"job_id": job_id}, job_id=job_id
            )
            self.store.insert(
                job,
                enqueue,
                [
                    f"Created fine-tuning job {job_id} on {entry.name}",
                    f"Validated {len(data.train)} training and {len(data.validation)} validation examples "
                    f"({data.tokens} tokens; {estimate} billed over {params.n_epochs} epochs)",
                ],
            )
            return job
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    # reads -------------------------------------------------------------------------------
    def get(self, principal: Principal, job_id: str) -> JobView:
        return job_view(self.store.owned(principal.account_id, job_id))

    def list(self, principal: Principal, after: str | None, limit: int) -> Page[JobView]:
        return self.store.page(principal.account_id, after, limit).map(job_view)

    def events(self, principal: Principal, job_id: str, after: str | None, limit: int) -> Page[EventView]:
        return self.store.events(principal.account_id, job_id, after, limit).map(event_view)

    # cancel and delete -------------------------------------------------------------------
    def cancel(self, principal: Principal, job_id: str) -> JobView:
        """Active → cancelled at once; a running trainer sees it before its next step."""
        job = self.store.owned(principal.account_id, job_id)
        if job.status not in ACTIVE:
            raise JobNotCancellable(job.status)
        if self.store.transition(job_id, ACTIVE, "cancelled", finished_at=utcnow()):
            self.store.add_event(job_id, "Job cancelled by the user")
            if job.status != "running" and job.hold_id:
                # nothing was trained; a running job is charged by its worker
                self.meter.release_job_hold(job.hold_id)
        return job_view(self.store.owned(principal.account_id, job_id))

    def delete(self, principal: Principal, job_id: str) -> JobView:
        """Cancel if still active, then hide the job; its fine-tuned model (if any) stays."""
        job = job_view(self.store.owned(principal.account_id, job_id))
        if job.status in ACTIVE:
            job = self.cancel(principal, job_id)
        self.store.mark_deleted(principal.account_id, job_id)
        folder = self.job_dir(principal.account_id, job_id)
        for name in (TRAIN_FILE, VALIDATION_FILE):
            (folder / name).unlink(missing_ok=True)
        return job

    def delete_model(self, principal: Principal, name: str) -> str:
        row = self.store.delete_model(principal.account_id, name)
        self.models.forget(row)
        return row.name


def _new_job(
    principal: Principal,
    spec: JobSpec,
    entry: CatalogEntry,
    data: CheckedDataset,
    params: Hyperparameters,
    job_id: str,
    estimate: int,
    hold_id: str | None,
) -> FineTuningJob:
    return FineTuningJob(
        id=job_id,
        account_id=principal.account_id,
        api_key_id=principal.api_key_id,
        request_id=spec.request_id,
        model=spec.model,
        base_model=entry.name,
        training_file=spec.training_file,
        validation_file=spec.validation_file,
        suffix=spec.suffix,
        hyperparameters=params.as_dict(),
        status="validating_files",
        train_examples=len(data.train),
        validation_examples=len(data.validation),
        estimated_tokens=estimate,
        trained_tokens=0,
        hold_id=hold_id,
        created_at=utcnow(),
    )
