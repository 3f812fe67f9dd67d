"""Cursor pages on the wire (OpenAI's list object), for every `after`/`limit` list.

`CursorQuery` is the query those lists take, declared once so the API and the console page
alike; `list_page` shapes the answer: `{object: "list", data, has_more}`, with `first_id` and
`last_id` where the wire carries them (batches, a response's input items). The rows come from
`store/paging.py:keyset_page` (newest first, `limit + 1` read to know `has_more`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel

DEFAULT_LIMIT = 20


class CursorQuery(BaseModel):
    after: str | None = None  # the last id of the previous page
    limit: int = DEFAULT_LIMIT  # 1 to 100, checked where the rows are read


CursorQueryDep = Annotated[CursorQuery, Query()]


def list_page(data: list[dict[str, Any]], has_more: bool, *, with_ids: bool = False) -> dict[str, Any]:
    if not with_ids:
        return {"object": "list", "data": data, "has_more": has_more}
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    return {"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": has_more}
