"""The catalog: resolves a public model name or alias to its entry and engine."""

from __future__ import annotations

from dataclasses import dataclass

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


class Catalog:
    def __init__(self, entries: list[CatalogEntry]) -> None:
        self._entries = entries
        self._by_name = {n: e for e in entries for n in (e.config.name, *e.config.aliases)}

    def resolve(self, name: str) -> CatalogEntry:
        entry = self._by_name.get(name)
        if entry is None:
            raise ModelNotFound(name)
        return entry

    def entries(self) -> list[CatalogEntry]:
        return list(self._entries)

    def public_names(self) -> list[tuple[str, CatalogEntry]]:
        """Every callable id (canonical names first, then aliases) with its entry."""
        names = [(e.name, e) for e in self._entries]
        return names + [(a, e) for e in self._entries for a in e.config.aliases]
