"""Builds the fine-tuning services for `build_services`, and the job handler for `make_worker`."""

from __future__ import annotations

from openmaas.billing.service import BillingService
from openmaas.billing.usage import UsageRecorder
from openmaas.catalog.registry import Catalog
from openmaas.config import Settings
from openmaas.files.service import FileService
from openmaas.finetune.models import FineTunedModels
from openmaas.finetune.runner import FineTuneRunner
from openmaas.finetune.service import FineTuneService
from openmaas.finetune.store import FineTuneStore
from openmaas.finetune.types import KIND
from openmaas.jobs.worker import Handler
from openmaas.store.db import Database


def build_finetune(settings: Settings, db: Database, catalog: Catalog, files: FileService,
                   billing: BillingService, usage: UsageRecorder | None = None) -> FineTuneService:
    """The service; its fine-tuned models become resolvable (per account) through `catalog`.
    `usage` gives its job holds the recorder's way past funds leases (`hold_exactly`)."""
    store = FineTuneStore(db, billing.release)
    models = FineTunedModels(store, catalog)
    catalog.add_account_source(models)
    return FineTuneService(store, settings, catalog, files, billing, models, usage)


def finetune_job_handlers(service: FineTuneService) -> dict[str, Handler]:
    return {KIND: FineTuneRunner(service).run_job}
