"""The playground's tool tabs, reachable with the console session (cookie + CSRF): images,
rerank, tokenizer, web search, layout parsing (OCR), speech and transcription.

As in console_api.py, each route puts the signed-in account's principal in front of the API's
own handler, so a tab is validated, limited, metered and tenant-scoped exactly like an API-key
call. What each tab can try on this server is in the console's model list (tool_models.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from openmaas.api import images as images_routes
from openmaas.api.deps import AccountPrincipalDep, ServicesDep
from openmaas.api.images import ImagesBody
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.api.tool_endpoints import audio as audio_routes
from openmaas.api.tool_endpoints import ocr as ocr_routes
from openmaas.api.tool_endpoints import rerank as rerank_routes
from openmaas.api.tool_endpoints import tokenizer as tokenizer_routes
from openmaas.api.tool_endpoints import web_search as web_search_routes
from openmaas.api.tool_endpoints.audio import SpeechBody, TranscriptionResponse
from openmaas.api.tool_endpoints.ocr import LayoutBody, LayoutResponse
from openmaas.api.tool_endpoints.rerank import RerankBody, ZhipuRerankResponse
from openmaas.api.tool_endpoints.tokenizer import TokenizerBody, TokenizerResponse
from openmaas.api.tool_endpoints.web_search import WebSearchBody, WebSearchResponse
from openmaas.web.console_api import CONSOLE_API_PREFIX

router = APIRouter(route_class=OffLoopJSONRoute, prefix=CONSOLE_API_PREFIX, include_in_schema=False)


class ImageOut(BaseModel):
    url: str | None = None
    b64_json: str | None = None


class ImagesOut(BaseModel):
    created: int
    data: list[ImageOut]


@router.post("/images/generations", response_model=ImagesOut, response_model_exclude_none=True)
async def generate_images(
    body: ImagesBody, request: Request, services: ServicesDep, principal: AccountPrincipalDep
) -> Response:
    return await images_routes.generate_images(body, request, services, principal)


@router.post("/rerank", response_model=ZhipuRerankResponse, response_model_exclude_none=True)
async def rerank(body: RerankBody, services: ServicesDep, principal: AccountPrincipalDep):
    return await rerank_routes.rerank_zhipu(body, services, principal)


@router.post("/tokenizer", response_model=TokenizerResponse)
async def tokenize(body: TokenizerBody, services: ServicesDep, principal: AccountPrincipalDep):
    return await tokenizer_routes.tokenize(body, services, principal)


@router.post("/web_search", response_model=WebSearchResponse)
async def web_search(body: WebSearchBody, services: ServicesDep, principal: AccountPrincipalDep):
    return await web_search_routes.web_search(body, services, principal)


@router.post("/layout_parsing", response_model=LayoutResponse)
async def layout_parsing(body: LayoutBody, services: ServicesDep, principal: AccountPrincipalDep):
    return await ocr_routes.layout_parsing(body, services, principal)


@router.post("/audio/speech", response_model=None, response_class=Response)
async def speech(body: SpeechBody, services: ServicesDep, principal: AccountPrincipalDep) -> Response:
    return await audio_routes.speech(body, services, principal)


@router.post("/audio/transcriptions", response_model=TranscriptionResponse)
async def transcriptions(
    request: Request, services: ServicesDep, principal: AccountPrincipalDep
) -> TranscriptionResponse | StreamingResponse:
    return await audio_routes.transcriptions(request, services, principal)
