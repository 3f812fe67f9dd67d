"""Liveness and readiness probes."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import ORJSONResponse
from starlette.concurrency import run_in_threadpool

from openmaas.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> ORJSONResponse:
    return ORJSONResponse({"status": "ok"})


@router.get("/ready")
async def ready(services: ServicesDep) -> ORJSONResponse:
    def ping() -> None:
        with services.db.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    await run_in_threadpool(ping)
    return ORJSONResponse({"status": "ready", "models": [e.name for e in services.catalog.entries()]})
