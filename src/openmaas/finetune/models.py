"""The per-account fine-tuned model registry, as an account source of the catalog.

`ft:<base>:<suffix>:<job id>` resolves only for its account (anyone else: model not
found, 1211) to an entry that keeps the base model's config — so price and capacity are
the base model's — and whose engine is the base engine with the job's adapter applied.

Resolution and listing read an in-memory snapshot of the fine-tuned model rows, never the
database: they run on the event loop (every chat request naming a model), where waiting
for a database (a write lock, a slow PostgreSQL) would stall every request. The snapshot
is loaded at start (`refresh`), kept current in this process (`remember`, `forget`), and
reloaded in a thread when older than `refresh_seconds`, for models another process (a
separate worker) created or deleted.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import time
from pathlib import Path

from openmaas.catalog.registry import Catalog, CatalogEntry
from openmaas.engines.adapter_view import AdapterEngine
from openmaas.errors import ModelNotFound
from openmaas.finetune.store import FineTuneStore
from openmaas.store.tables import FineTunedModel

log = logging.getLogger(__name__)
PREFIX = "ft:"
REFRESH_SECONDS = 2.0


class FineTunedModels:
    def __init__(
        self, store: FineTuneStore, catalog: Catalog, refresh_seconds: float = REFRESH_SECONDS
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._refresh_seconds = refresh_seconds
        self._rows: dict[str, FineTunedModel] = {}
        self._loaded_at: float | None = None
        self._lock = threading.Lock()
        self._refreshing = False

    def resolve(self, name: str, account_id: str) -> CatalogEntry | None:
        if not name.startswith(PREFIX):
            return None
        row = self._snapshot().get(name)
        return self._entry(row) if row is not None and row.account_id == account_id else None

    def names(self, account_id: str) -> list[tuple[str, CatalogEntry]]:
        owned = sorted(
            (r for r in self._snapshot().values() if r.account_id == account_id), key=lambda r: r.created_at
        )
        entries = ((row.name, self._entry(row)) for row in owned)
        return [(name, entry) for name, entry in entries if entry is not None]

    # the snapshot ------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload every fine-tuned model row (blocking: call it in a thread)."""
        rows = {row.name: row for row in self._store.all_models()}
        with self._lock:
            self._rows, self._loaded_at = rows, time.monotonic()

    def remember(self, row: FineTunedModel) -> None:
        """A model this process just created: resolvable at once."""
        with self._lock:
            self._rows = self._rows | {row.name: row}

    def _snapshot(self) -> dict[str, FineTunedModel]:
        loaded_at = self._loaded_at
        if loaded_at is not None and time.monotonic() - loaded_at < self._refresh_seconds:
            return self._rows
        if _on_event_loop():
            self._refresh_in_background()  # this request sees the snapshot as it is
        else:
            self._refresh_quietly()
        return self._rows

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True
        threading.Thread(target=self._refresh_quietly, name="ft-models-refresh", daemon=True).start()

    def _refresh_quietly(self) -> None:
        try:
            self.refresh()
        except Exception:
            log.warning("reloading the fine-tuned models failed; keeping the last snapshot", exc_info=True)
        finally:
            with self._lock:
                self._refreshing = False

    def _entry(self, row: FineTunedModel) -> CatalogEntry | None:
        try:
            base = self._catalog.resolve(row.base_model)
        except ModelNotFound:
            log.warning(
                "fine-tuned model %s: base model %s is no longer configured", row.name, row.base_model
            )
            return None
        config = base.config.model_copy(
            update={
                "aliases": [],
                "description": f"{row.name}: {row.base_model} fine-tuned by job {row.job_id}",
            }
        )
        return CatalogEntry(config, AdapterEngine(base.engine, Path(row.adapter_path)))

    def forget(self, row: FineTunedModel) -> None:
        """Free a deleted model's adapter in its engine and remove its files (the row is gone already)."""
        with self._lock:
            self._rows = {name: r for name, r in self._rows.items() if name != row.name}
        entry = self._entry(row)
        if entry is not None and isinstance(entry.engine, AdapterEngine):
            entry.engine.unload()
        adapter = Path(row.adapter_path)
        for path in (adapter, adapter.parent / "adapter", adapter.parent / "checkpoint"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
