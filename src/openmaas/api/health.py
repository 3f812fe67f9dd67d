"""Liveness and readiness probes."""

from __future__ import annotations

import hmac
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Header
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from openmaas.api.deps import ServicesDep
from openmaas.api.responses import JSONBody
from openmaas.errors import MissingCredentials

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


@router.get("/metrics", include_in_schema=False)
async def metrics(services: ServicesDep, authorization: Annotated[str | None, Header()] = None) -> Response:
    token = services.settings.metrics_token
    if token and not hmac.compare_digest(authorization or "", f"Bearer {token}"):
        raise MissingCredentials()
    for entry in services.catalog.entries():
        pending = getattr(entry.engine, "pending_requests", None)
        if pending is not None:
            services.metrics.queue_depth.labels(entry.name).set(pending())
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)
