"""POST /moderations in the platform's shape: one `result_list` entry per input, with
`risk_level` (PASS | REVIEW | REJECT) and the matched `risk_type` categories."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.routing import OffLoopJSONRoute

router = APIRouter(route_class=OffLoopJSONRoute, tags=["tools: moderations"])


class ModerationBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(default="moderation", min_length=1)
    input: str | list[Any] | dict[str, Any]
    request_id: str | None = Field(default=None, max_length=128)


class ModerationItem(BaseModel):
    content_type: str
    risk_level: str
    risk_type: list[str]


class ModerationTextUsage(BaseModel):
    call_count: int


class ModerationUsage(BaseModel):
    moderation_text: ModerationTextUsage


class ModerationResponse(BaseModel):
    id: str
    created: int
    request_id: str
    model: str
    flagged: bool
    result_list: list[ModerationItem]
    usage: ModerationUsage


@router.post("/moderations", response_model=ModerationResponse)
async def moderate(
    body: ModerationBody, services: ServicesDep, principal: PrincipalDep
) -> ModerationResponse:
    result = await services.tools.moderation.moderate(principal, body.model, body.input, body.request_id)
    items = [
        ModerationItem(content_type=kind, risk_level=v.risk_level, risk_type=list(v.risk_types))
        for kind, v in result.verdicts
    ]
    return ModerationResponse(
        id=result.request_id,
        created=int(time.time()),
        request_id=result.request_id,
        model=result.model,
        flagged=result.flagged,
        result_list=items,
        usage=ModerationUsage(moderation_text=ModerationTextUsage(call_count=1)),
    )
