"""The catalog: resolves a public model name or alias to its entry and engine.

Configured models are visible to everyone. Account sources (fine-tuned models) add
names that only their account can resolve or list; for anyone else they do not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from openmaas.config import ModelConfig
from openmaas.engines.base import ChatEngine
from openmaas.errors import ModelNotFound


@dataclass(frozen=True)
class CatalogEntry:
    config: ModelConfig
    engine: ChatEngine

    @property
    def name(self) -> str:
        return self.config.name


class AccountSource(Protocol):
    """Models owned by one account (e.g. fine-tuned models)."""

    def resolve(self, name: str, account_id: str) -> CatalogEntry | None: ...

    def names(self, account_id: str) -> list[tuple[str, CatalogEntry]]: ...


class Catalog:
    def __init__(self, entries: list[CatalogEntry]) -> None:
        self._entries = entries
        self._by_name = {n: e for e in entries for n in (e.config.name, *e.config.aliases)}
        self._sources: list[AccountSource] = []

    def add_account_source(self, source: AccountSource) -> None:
        self._sources.append(source)

    def resolve(self, name: str, account_id: str | None = None) -> CatalogEntry:
        entry = self._by_name.get(name)
        if entry is None and account_id:
            for source in self._sources:
                if (entry := source.resolve(name, account_id)) is not None:
                    break
        if entry is None:
            raise ModelNotFound(name)
        return entry

    def entries(self) -> list[CatalogEntry]:
        return list(self._entries)

    def public_names(self, account_id: str | None = None) -> list[tuple[str, CatalogEntry]]:
        """Every callable id (canonical names first, then aliases, then the account's own)."""
        names = [(e.name, e) for e in self._entries]
        owned = [n for source in self._sources for n in source.names(account_id)] if account_id else []
        return names + [(a, e) for e in self._entries for a in e.config.aliases] + owned
