"""Liveness and readiness probes."""

from __future__ import annotations

import hmac
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Header, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from openmaas.api.deps import ServicesDep
from openmaas.api.public.health import HealthPublic, ReadyPublic
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.concurrency import run_in_threadpool
from openmaas.errors import MissingCredentials, PermissionDenied

router = APIRouter(route_class=OffLoopJSONRoute, tags=["health"])


@router.get("/health", response_model=HealthPublic)
async def health() -> JSONBody:
    return JSONBody({"status": "ok"})


@router.get("/ready", response_model=ReadyPublic)
async def ready(services: ServicesDep) -> JSONBody:
    def ping() -> None:
        with services.db.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    await run_in_threadpool(ping)
    return JSONBody({"status": "ready", "models": [e.name for e in services.catalog.entries()]})


@router.get("/metrics", include_in_schema=False, response_model=None, response_class=Response)
async def metrics(
    request: Request, services: ServicesDep, authorization: Annotated[str | None, Header()] = None
) -> Response:
    settings = services.settings
    token = settings.metrics_token
    if token and not hmac.compare_digest(authorization or "", f"Bearer {token}"):
        raise MissingCredentials()
    client = request.client.host if request.client else ""
    if not token and settings.environment == "production" and client not in settings.metrics_allow_from:
        # no token configured: in production only local scrapers (metrics_allow_from)
        raise PermissionDenied(
            "/metrics 仅限本机访问 (/metrics: set metrics_token, or scrape "
            "from an address in metrics_allow_from)"
        )
    for entry in services.catalog.entries():
        pending = getattr(entry.engine, "pending_requests", None)
        if pending is not None:
            services.metrics.queue_depth.labels(entry.name).set(pending())
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)
