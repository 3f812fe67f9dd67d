"""Liveness and readiness probes."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from openmaas.api.deps import ServicesDep
from openmaas.api.responses import JSONBody

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> JSONBody:
    return JSONBody({"status": "ok"})


@router.get("/ready")
async def ready(services: ServicesDep) -> JSONBody:
    def ping() -> None:
        with services.db.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    await run_in_threadpool(ping)
    return JSONBody({"status": "ready", "models": [e.name for e in services.catalog.entries()]})
