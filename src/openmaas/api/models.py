"""GET /models on both surfaces: the catalog, aliases included."""

from __future__ import annotations

from fastapi import APIRouter

from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.responses import JSONBody

router = APIRouter(tags=["models"])


@router.get("/models")
async def list_models(services: ServicesDep, principal: PrincipalDep):
    data = [{"id": name, "object": "model", "created": 0, "owned_by": entry.config.owned_by,
             "root": entry.name, "context_window": entry.config.context_window,
             "capabilities": entry.config.capabilities}
            for name, entry in services.catalog.public_names(principal.account_id)]
    return JSONBody({"object": "list", "data": data})
