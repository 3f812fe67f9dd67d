"""The price book: per-model prices with history, seeded from settings, editable by admins."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from openmaas.billing.audit import audit
from openmaas.billing.money import Price, yuan_to_micro
from openmaas.billing.views import PriceChange, price_change
from openmaas.config import PriceConfig
from openmaas.errors import InternalFailure, InvalidField
from openmaas.store.db import Database
from openmaas.store.tables import ModelPrice, utcnow


def price_from_config(config: PriceConfig) -> Price:
    output = config.output_per_1k if config.output_per_1k is not None else config.input_per_1k
    return Price(yuan_to_micro(config.input_per_1k), yuan_to_micro(output), yuan_to_micro(config.per_image))


def seed_prices(session: Session, prices: dict[str, PriceConfig]) -> None:
    """Insert configured prices for models that have no price row yet (admins' edits win)."""
    priced = set(session.scalars(sa.select(ModelPrice.model).distinct()))
    for model, config in prices.items():
        if model not in priced:
            price = price_from_config(config)
            session.add(
                ModelPrice(
                    model=model,
                    input_micro_per_1k=price.input_per_1k,
                    output_micro_per_1k=price.output_per_1k,
                    image_micro=price.per_image,
                    effective_from=datetime(2000, 1, 1),
                )
            )


def current_price(
    session: Session, model: str, canonical: str | None = None, now: datetime | None = None
) -> Price:
    """The price of the name the caller used, else of the canonical model, else free."""
    moment = now or utcnow()
    for name in (model, canonical):
        if name is None:
            continue
        row = session.scalars(
            sa.select(ModelPrice)
            .where(ModelPrice.model == name, ModelPrice.effective_from <= moment)
            .order_by(ModelPrice.effective_from.desc(), ModelPrice.id.desc())
            .limit(1)
        ).first()
        if row is not None:
            return Price(row.input_micro_per_1k, row.output_micro_per_1k, row.image_micro)
    return Price()


def set_price(session: Session, actor_id: str, model: str, price: Price) -> None:
    if min(price.input_per_1k, price.output_per_1k, price.per_image) < 0:
        raise InvalidField("price", "must not be negative")
    row = ModelPrice(
        model=model,
        input_micro_per_1k=price.input_per_1k,
        output_micro_per_1k=price.output_per_1k,
        image_micro=price.per_image,
        effective_from=utcnow(),
        changed_by=actor_id,
    )
    session.add(row)
    audit(
        session,
        actor_id,
        None,
        "price.set",
        model=model,
        input=price.input_per_1k,
        output=price.output_per_1k,
        image=price.per_image,
    )


def price_history(session: Session, model: str | None = None) -> list[PriceChange]:
    query = sa.select(ModelPrice).order_by(ModelPrice.model, ModelPrice.effective_from, ModelPrice.id)
    if model:
        query = query.where(ModelPrice.model == model)
    return [price_change(row) for row in session.scalars(query)]


@dataclass(frozen=True)
class _PriceRow:
    effective_from: datetime
    row_id: int
    price: Price


class PriceBook:
    """The price table held in memory, re-read at most every `ttl_seconds`.

    Every chargeable request needs a price before it runs; reading it from the database
    each time was a query on the hot path. A change made through this process shows at
    once (`invalidate`), one made by another process within `ttl_seconds`. A reservation
    records the price it was made at, so a change never alters a request in flight."""

    def __init__(self, db: Database, ttl_seconds: float = 2.0) -> None:
        self._db = db
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._rows: dict[str, list[_PriceRow]] = {}
        self._loaded_at = float("-inf")

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    def price(self, model: str, canonical: str | None = None, now: datetime | None = None) -> Price:
        """The price of the name the caller used, else of the canonical model. Fails closed:
        a name with neither is refused (start-up checks every served name has one)."""
        price = self.find(model, canonical, now)
        if price is None:
            raise InternalFailure(
                f"model {model} has no price; the operator must set one "
                "(billing.prices, price 0 to serve it free)"
            )
        return price

    def find(self, model: str, canonical: str | None = None, now: datetime | None = None) -> Price | None:
        rows = self._current_rows()
        moment = now or utcnow()
        for name in (model, canonical):
            due = [r for r in rows.get(name, ()) if r.effective_from <= moment] if name else []
            if due:
                return max(due, key=lambda r: (r.effective_from, r.row_id)).price
        return None

    def _current_rows(self) -> dict[str, list[_PriceRow]]:
        if time.monotonic() - self._loaded_at < self._ttl:
            return self._rows
        with self._lock:
            if time.monotonic() - self._loaded_at >= self._ttl:
                self._rows, self._loaded_at = self._load(), time.monotonic()
        return self._rows

    def _load(self) -> dict[str, list[_PriceRow]]:
        rows: dict[str, list[_PriceRow]] = {}
        with self._db.session(read_only=True) as session:
            for row in session.scalars(sa.select(ModelPrice)):
                rows.setdefault(row.model, []).append(
                    _PriceRow(
                        row.effective_from,
                        row.id,
                        Price(row.input_micro_per_1k, row.output_micro_per_1k, row.image_micro),
                    )
                )
        return rows


@dataclass(frozen=True)
class ServedModel:
    """One model as served: its canonical name, its other names, and what it sells."""

    canonical: str
    aliases: tuple[str, ...]
    kind: str  # chat | embedding | image


def price_problems(book: PriceBook, served: list[ServedModel]) -> list[str]:
    """Why the served names' prices are unsafe (empty: every name resolves to a price, and no
    free name is a second name of a priced model)."""
    problems = []
    for model in served:
        base = book.find(model.canonical)
        if base is None:
            problems.append(
                f"{model.kind} model {model.canonical} has no price: set "
                f'billing.prices."{model.canonical}" (input_per_1k = "0" serves it free)'
            )
            continue
        for alias in model.aliases:
            own = book.find(alias, model.canonical)
            if own is not None and own.free and not base.free:
                problems.append(
                    f"{alias} is free but a name of the priced {model.kind} model "
                    f"{model.canonical}: serve the free name on its own model, or "
                    f"price {model.canonical} at 0"
                )
    return problems
