"""POST /files/ocr (the SDK's handwriting OCR: words with locations) and POST
/layout_parsing (GLM-OCR's shape: layout_details per page, md_results)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.api.tool_endpoints.common import form_file, form_text, read_form
from openmaas.ocr.engine import TextLine
from openmaas.tools_api.ocr_service import LayoutResult, decode_file_field

router = APIRouter(route_class=OffLoopJSONRoute, tags=["tools: OCR"])


class Location(BaseModel):
    left: int
    top: int
    width: int
    height: int


class Probability(BaseModel):
    average: float
    variance: float
    min: float


class WordsItem(BaseModel):
    location: Location
    words: str
    probability: Probability | None = None


class OcrResponse(BaseModel):
    task_id: str
    message: str
    status: str
    words_result_num: int
    words_result: list[WordsItem]


def words_item(line: TextLine, with_probability: bool) -> WordsItem:
    left, top, width, height = line.bounds
    probability = (
        Probability(average=round(line.score, 4), variance=0.0, min=round(line.score, 4))
        if with_probability
        else None
    )
    return WordsItem(
        location=Location(left=left, top=top, width=width, height=height),
        words=line.text,
        probability=probability,
    )


@router.post("/files/ocr", response_model=OcrResponse, response_model_exclude_none=True)
async def ocr_file(request: Request, services: ServicesDep, principal: PrincipalDep) -> OcrResponse:
    form = await read_form(request)
    try:
        tool_type = form_text(form, "tool_type")
        probability = (form_text(form, "probability") or "").lower() == "true"
        _, data = await form_file(form, services.tools.parser.settings.max_image_bytes)
    finally:
        await form.close()
    found = await services.tools.ocr.words(principal, data, tool_type)
    items = [words_item(line, probability) for line in found.lines]
    return OcrResponse(
        task_id=found.task_id,
        message="成功 (success)",
        status="succeeded",
        words_result_num=len(items),
        words_result=items,
    )


class LayoutBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(default="glm-ocr", min_length=1)
    file: str = Field(min_length=1)
    return_crop_images: bool | None = None
    need_layout_visualization: bool | None = None
    start_page_id: int | None = Field(default=None, ge=1)
    end_page_id: int | None = Field(default=None, ge=1)
    request_id: str | None = Field(default=None, max_length=128)
    user_id: str | None = Field(default=None, max_length=128)


class LayoutDetail(BaseModel):
    index: int
    label: str
    bbox_2d: list[float] | None = None
    content: str
    height: int
    width: int


class PageInfo(BaseModel):
    width: int
    height: int


class DataInfo(BaseModel):
    num_pages: int
    pages: list[PageInfo]


class LayoutUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class LayoutResponse(BaseModel):
    id: str
    created: int
    model: str
    request_id: str
    md_results: str
    layout_details: list[list[LayoutDetail]]
    layout_visualization: list[str]
    data_info: DataInfo
    usage: LayoutUsage


def layout_answer(result: LayoutResult) -> LayoutResponse:
    details = [
        [
            LayoutDetail(
                index=b.index,
                label=b.label,
                bbox_2d=b.bbox,
                content=b.content,
                height=b.height,
                width=b.width,
            )
            for b in page.blocks
        ]
        for page in result.pages
    ]
    markdown = "\n\n".join(page.markdown for page in result.pages if page.blocks)
    return LayoutResponse(
        id=result.request_id,
        created=int(time.time()),
        model=result.model,
        request_id=result.request_id,
        md_results=markdown,
        layout_details=details,
        layout_visualization=[],
        data_info=DataInfo(
            num_pages=len(result.pages),
            pages=[PageInfo(width=p.width, height=p.height) for p in result.pages],
        ),
        usage=LayoutUsage(prompt_tokens=0, completion_tokens=len(markdown), total_tokens=len(markdown)),
    )


@router.post("/layout_parsing", response_model=LayoutResponse)
async def layout_parsing(body: LayoutBody, services: ServicesDep, principal: PrincipalDep) -> LayoutResponse:
    data = decode_file_field(body.file, services.tools.parser.settings)
    result = await services.tools.ocr.layout(
        principal, body.model, data, body.start_page_id, body.end_page_id, body.request_id
    )
    return layout_answer(result)
