"""POST /api/paas/v4/embeddings and POST /v1/embeddings (one handler, both surfaces).

`encoding_format: "base64"` (the openai SDK's default) returns little-endian float32
bytes in base64; `float` (or nothing) returns arrays. `input_type` (query | passage |
document) is an extension for asymmetric models such as e5; the default is query.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

import numpy as np
import orjson
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.responses import JSONBody
from openmaas.embeddings.service import EmbeddingRequest, EmbeddingResult
from openmaas.errors import InvalidField

router = APIRouter(tags=["embeddings"])


class VectorJSONBody(JSONBody):
    """Serialises float32 arrays natively (shortest float32 repr, no Python floats)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


class EmbeddingsBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    input: str | list[str] | list[int] | list[list[int]]
    dimensions: int | None = Field(default=None, ge=1)
    encoding_format: Literal["float", "base64"] | None = None
    input_type: Literal["query", "passage", "document"] | None = None
    user: str | None = None
    request_id: str | None = Field(default=None, max_length=128)
    sensitive_word_check: dict[str, Any] | None = None

    def to_request(self) -> EmbeddingRequest:
        inputs = [self.input] if isinstance(self.input, str) else self.input
        if inputs and not all(isinstance(item, str) for item in inputs):
            raise InvalidField("input", "token arrays are not supported; send strings")
        kind = "query" if self.input_type in (None, "query") else "passage"
        return EmbeddingRequest(model=self.model, inputs=list(inputs), dimensions=self.dimensions,
                                kind=kind, request_id=self.request_id)


def encode_vector(vector: np.ndarray, encoding: str | None) -> Any:
    if encoding == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return vector


def embeddings_body(result: EmbeddingResult, encoding: str | None) -> dict[str, Any]:
    data = [{"index": i, "object": "embedding", "embedding": encode_vector(row, encoding)}
            for i, row in enumerate(result.vectors)]
    return {"model": result.model, "object": "list", "data": data,
            "usage": {"prompt_tokens": result.prompt_tokens, "completion_tokens": 0,
                      "total_tokens": result.prompt_tokens}}


@router.post("/embeddings")
async def create_embeddings(body: EmbeddingsBody, services: ServicesDep, principal: PrincipalDep):
    result = await services.embeddings.create(principal, body.to_request())
    return VectorJSONBody(embeddings_body(result, body.encoding_format))
