"""GET /models on both surfaces: the catalog, aliases included."""

from __future__ import annotations

from fastapi import APIRouter

from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.responses import JSONBody

router = APIRouter(tags=["models"])


@router.get("/models")
async def list_models(services: ServicesDep, principal: PrincipalDep):
    chat = [{"id": name, "object": "model", "created": 0, "owned_by": entry.config.owned_by,
             "root": entry.name, "context_window": entry.config.context_window,
             "capabilities": entry.config.capabilities}
            for name, entry in services.catalog.public_names(principal.account_id)]
    embeddings = [{"id": name, "object": "model", "created": 0, "owned_by": "openmaas", "root": model.name,
                   "context_window": model.config.max_input_tokens, "capabilities": ["embeddings"],
                   "dimensions": model.config.dimensions}
                  for model in services.embeddings.catalog.entries()
                  for name in (model.name, *model.config.aliases)]
    return JSONBody({"object": "list", "data": chat + embeddings})
