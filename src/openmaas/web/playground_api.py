"""The playground's tool tabs, reachable with the console session (cookie + CSRF): images,
rerank, tokenizer, web search, layout parsing (OCR), speech and transcription.

As in console_api.py, each route puts the signed-in account's principal in front of the
service call the API's route makes, shaped by the API's own answer function, so a tab is
validated, limited, metered and tenant-scoped exactly like an API-key call. What each tab can
try on this server is in the console's model list (tool_models.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from openmaas.api.deps import AccountPrincipalDep, ServicesDep
from openmaas.api.images import ImagesBody, images_body
from openmaas.api.public.images import ImagesPublic
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.api.tool_endpoints.audio import SpeechBody, TranscriptionResponse, spoken, transcribed
from openmaas.api.tool_endpoints.ocr import LayoutBody, LayoutResponse, layout_answer
from openmaas.api.tool_endpoints.rerank import RerankBody, ZhipuRerankResponse, zhipu_rerank_answer
from openmaas.api.tool_endpoints.tokenizer import TokenizerBody, TokenizerResponse, tokenizer_answer
from openmaas.api.tool_endpoints.web_search import WebSearchBody, WebSearchResponse, web_search_answer
from openmaas.concurrency import run_in_threadpool
from openmaas.tools_api.ocr_service import decode_file_field
from openmaas.web.console_api import CONSOLE_API_PREFIX

router = APIRouter(route_class=OffLoopJSONRoute, prefix=CONSOLE_API_PREFIX, include_in_schema=False)


@router.post("/images/generations", response_model=ImagesPublic)
async def generate_images(
    body: ImagesBody, request: Request, services: ServicesDep, principal: AccountPrincipalDep
) -> Response:
    result = await services.images.generate(principal, body.to_request())
    return JSONBody(await run_in_threadpool(images_body, result, request, services.images.store, body.as_b64))


@router.post("/rerank", response_model=ZhipuRerankResponse, response_model_exclude_none=True)
async def rerank(body: RerankBody, services: ServicesDep, principal: AccountPrincipalDep):
    result = await services.tools.rerank.rerank(principal, body.to_request())
    return zhipu_rerank_answer(result, body.return_documents)


@router.post("/tokenizer", response_model=TokenizerResponse)
async def tokenize(body: TokenizerBody, services: ServicesDep, principal: AccountPrincipalDep):
    counted = await services.tools.tokenizer.count(
        principal, body.model, body.to_messages(), body.tools, body.request_id
    )
    return tokenizer_answer(counted)


@router.post("/web_search", response_model=WebSearchResponse)
async def web_search(body: WebSearchBody, services: ServicesDep, principal: AccountPrincipalDep):
    answer = await services.tools.web_search.search(
        principal, services.search, body.to_query(), body.request_id
    )
    return web_search_answer(answer, body.search_intent)


@router.post("/layout_parsing", response_model=LayoutResponse)
async def layout_parsing(body: LayoutBody, services: ServicesDep, principal: AccountPrincipalDep):
    data = decode_file_field(body.file, services.tools.parser.settings)
    result = await services.tools.ocr.layout(
        principal, body.model, data, body.start_page_id, body.end_page_id, body.request_id
    )
    return layout_answer(result)


@router.post("/audio/speech", response_model=None, response_class=Response)
async def speech(body: SpeechBody, services: ServicesDep, principal: AccountPrincipalDep) -> Response:
    return await spoken(body, services, principal)


@router.post("/audio/transcriptions", response_model=TranscriptionResponse)
async def transcriptions(
    request: Request, services: ServicesDep, principal: AccountPrincipalDep
) -> TranscriptionResponse | StreamingResponse:
    return await transcribed(request, services, principal)
