"""GET /models on both surfaces: the catalog, aliases included."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.public.models import ModelsPublic
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.auth.principal import Principal
from openmaas.services import Services

router = APIRouter(route_class=OffLoopJSONRoute, tags=["models"])


@router.get("/models", response_model=ModelsPublic)
async def list_models(services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    return JSONBody(model_list(services, principal))


def model_list(services: Services, principal: Principal) -> dict[str, Any]:
    """The chat models the account sees (its fine-tunes included) and the embedding models."""
    chat = [
        {
            "id": name,
            "object": "model",
            "created": 0,
            "owned_by": entry.config.owned_by,
            "root": entry.name,
            "context_window": entry.config.context_window,
            "capabilities": entry.config.capabilities,
        }
        for name, entry in services.catalog.public_names(principal.account_id)
    ]
    embeddings = [
        {
            "id": name,
            "object": "model",
            "created": 0,
            "owned_by": "openmaas",
            "root": model.name,
            "context_window": model.config.max_input_tokens,
            "capabilities": ["embeddings"],
            "dimensions": model.config.dimensions,
        }
        for model in services.embeddings.catalog.entries()
        for name in (model.name, *model.config.aliases)
    ]
    return {"object": "list", "data": chat + embeddings}
