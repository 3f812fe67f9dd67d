"""The per-account fine-tuned model registry, as an account source of the catalog.

`ft:<base>:<suffix>:<job id>` resolves only for its account (anyone else: model not
found, 1211) to an entry that keeps the base model's config — so price and capacity are
the base model's — and whose engine is the base engine with the job's adapter applied.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from openmaas.catalog.registry import Catalog, CatalogEntry
from openmaas.engines.adapter_view import AdapterEngine
from openmaas.errors import ModelNotFound
from openmaas.finetune.store import FineTuneStore
from openmaas.store.tables import FineTunedModel

log = logging.getLogger(__name__)
PREFIX = "ft:"


class FineTunedModels:
    def __init__(self, store: FineTuneStore, catalog: Catalog) -> None:
        self._store = store
        self._catalog = catalog

    def resolve(self, name: str, account_id: str) -> CatalogEntry | None:
        if not name.startswith(PREFIX):
            return None
        row = self._store.model(account_id, name)
        return self._entry(row) if row is not None else None

    def names(self, account_id: str) -> list[tuple[str, CatalogEntry]]:
        entries = ((row.name, self._entry(row)) for row in self._store.models(account_id))
        return [(name, entry) for name, entry in entries if entry is not None]

    def _entry(self, row: FineTunedModel) -> CatalogEntry | None:
        try:
            base = self._catalog.resolve(row.base_model)
        except ModelNotFound:
            log.warning("fine-tuned model %s: base model %s is no longer configured", row.name,
                        row.base_model)
            return None
        config = base.config.model_copy(update={
            "aliases": [], "description": f"{row.name}: {row.base_model} fine-tuned by job {row.job_id}"})
        return CatalogEntry(config, AdapterEngine(base.engine, Path(row.adapter_path)))

    def forget(self, row: FineTunedModel) -> None:
        """Free a deleted model's adapter in its engine and remove its files (the row is gone already)."""
        entry = self._entry(row)
        if entry is not None and isinstance(entry.engine, AdapterEngine):
            entry.engine.unload()
        adapter = Path(row.adapter_path)
        for path in (adapter, adapter.parent / "adapter", adapter.parent / "checkpoint"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
