"""POST /api/paas/v4/embeddings and POST /v1/embeddings (one handler, both surfaces).

`encoding_format: "base64"` (the openai SDK's default) returns little-endian float32
bytes in base64; `float` (or nothing) returns arrays. `input_type` (query | passage |
document) is an extension for asymmetric models such as e5; the default is query. Token-id
arrays (OpenAI's cl100k_base ids, LangChain's default) are decoded to text first
(embeddings/token_input.py).
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any, Literal

import numpy as np
import orjson
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.public.embeddings import EmbeddingsPublic
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.embeddings.base import InputKind
from openmaas.embeddings.service import EmbeddingRequest, EmbeddingResult
from openmaas.embeddings.token_input import decode_token_input, is_token_input
from openmaas.errors import InvalidField

router = APIRouter(route_class=OffLoopJSONRoute, tags=["embeddings"])


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

    @property
    def token_input(self) -> bool:
        return not isinstance(self.input, str) and is_token_input(self.input)

    def to_request(self) -> EmbeddingRequest:
        inputs = [self.input] if isinstance(self.input, str) else self.input
        if self.token_input:
            texts = decode_token_input(inputs)
        else:
            texts = [item for item in inputs if isinstance(item, str)]
            if len(texts) != len(inputs):
                raise InvalidField("input", "a list of strings, or of token-id arrays")
        kind: InputKind = "query" if self.input_type in (None, "query") else "passage"
        return EmbeddingRequest(
            model=self.model,
            inputs=list(texts),
            dimensions=self.dimensions,
            kind=kind,
            request_id=self.request_id,
        )

    async def to_request_off_loop(self) -> EmbeddingRequest:
        """`to_request`, in a worker thread for token ids: decoding them is pure Python (up to
        2048 arrays of 8k ids)."""
        return await asyncio.to_thread(self.to_request) if self.token_input else self.to_request()


def encode_vector(vector: np.ndarray, encoding: str | None) -> Any:
    if encoding == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return vector


def embeddings_body(result: EmbeddingResult, encoding: str | None) -> dict[str, Any]:
    data = [
        {"index": i, "object": "embedding", "embedding": encode_vector(row, encoding)}
        for i, row in enumerate(result.vectors)
    ]
    return {
        "model": result.model,
        "object": "list",
        "data": data,
        "usage": {
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": 0,
            "total_tokens": result.prompt_tokens,
        },
    }


@router.post("/embeddings", response_model=EmbeddingsPublic)
async def create_embeddings(
    body: EmbeddingsBody, services: ServicesDep, principal: PrincipalDep
) -> VectorJSONBody:
    result = await services.embeddings.create(principal, await body.to_request_off_loop())
    return VectorJSONBody(embeddings_body(result, body.encoding_format))
