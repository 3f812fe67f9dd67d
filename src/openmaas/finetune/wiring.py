"""Builds the fine-tuning services for `build_services`, and the job handler for `make_worker`."""

from __future__ import annotations

from functools import partial

from openmaas.billing.meter import Meter
from openmaas.billing.service import BillingService
from openmaas.catalog.registry import Catalog
from openmaas.config import Settings
from openmaas.files.service import FileService
from openmaas.finetune.models import FineTunedModels
from openmaas.finetune.runner import FineTuneRunner
from openmaas.finetune.service import FineTuneService
from openmaas.finetune.store import FineTuneStore, fail_given_up_jobs
from openmaas.finetune.types import KIND
from openmaas.jobs.queue import JobQueue
from openmaas.jobs.worker import Handler
from openmaas.store.db import Database


def build_finetune(
    settings: Settings,
    db: Database,
    catalog: Catalog,
    files: FileService,
    billing: BillingService,
    meter: Meter,
    jobs: JobQueue,
) -> FineTuneService:
    """The service; its fine-tuned models become resolvable (per account) through `catalog`.
    Its money goes through `meter` (a job's hold, the charge for the tokens trained). A job
    the queue gives up on fails with its hold released (`fail_given_up_jobs`)."""
    store = FineTuneStore(db)
    models = FineTunedModels(store, catalog)
    catalog.add_account_source(models)
    jobs.on_give_up(KIND, partial(fail_given_up_jobs, release_hold=meter.release_job_hold_in))
    return FineTuneService(store, settings, catalog, files, billing, models, meter, jobs)


def finetune_job_handlers(service: FineTuneService) -> dict[str, Handler]:
    return {KIND: FineTuneRunner(service).run_job}
