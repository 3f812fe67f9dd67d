"""Keyset pages for the `after`/`limit` lists (files, batches, fine-tuning jobs and events).

`keyset_page` orders by `order` (descending unless `ascending`), reads `limit + 1` rows to know
`has_more`, and starts past the row named by `after`. The last column of `order` is the row's
unique id and `after` is that id: with more columns, e.g. `(created_at, id)`, the row is looked
up among those `scope` allows (the caller's account; an unknown id is a 400); with the id alone
(an increasing integer) `after` is the bound itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute, Session

from openmaas.errors import InvalidField

MAX_PAGE = 100
T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    has_more: bool

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        return Page([convert(r) for r in self.rows], self.has_more)


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidField("limit", f"between 1 and {MAX_PAGE}")


def keyset_page(
    session: Session,
    query: sa.Select[T],
    order: Sequence[InstrumentedAttribute[Any]],
    limit: int,
    after: Any = None,
    *,
    scope: sa.ColumnElement[bool],
    unknown: str = "unknown id",
    ascending: bool = False,
) -> Page[T]:
    check_limit(limit)
    if after is not None:
        key, bound = sa.tuple_(*order), _bound(session, order, after, scope, unknown)
        query = query.where(key > bound if ascending else key < bound)
    columns = [c.asc() if ascending else c.desc() for c in order]
    rows = list(session.scalars(query.order_by(*columns).limit(limit + 1)))
    return Page(rows[:limit], len(rows) > limit)


def _bound(
    session: Session,
    order: Sequence[InstrumentedAttribute[Any]],
    after: Any,
    scope: sa.ColumnElement[bool],
    unknown: str,
) -> sa.Tuple:
    values: Sequence[Any] | None = (after,)
    if len(order) > 1:
        values = session.execute(sa.select(*order).where(order[-1] == after, scope)).first()
    if values is None:
        raise InvalidField("after", unknown)
    return sa.tuple_(*(sa.literal(v, c.type) for c, v in zip(order, values, strict=True)))
