"""POST /web_search in the platform's shape: `search_result` items (title, link, content,
media, icon, refer, publish_date) and, when asked, `search_intent`."""

from __future__ import annotations

import time

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.search.service import WebSearchQuery
from openmaas.tools_api.web_search import WebSearchAnswer

router = APIRouter(route_class=OffLoopJSONRoute, tags=["tools: web search"])


class WebSearchBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    search_query: str = Field(min_length=1, max_length=256)
    search_engine: str = "search_std"
    search_intent: bool = False
    count: int = Field(default=10, ge=1, le=50)
    search_domain_filter: str | None = Field(default=None, max_length=253)
    search_recency_filter: str | None = None
    content_size: str | None = None
    include_image: bool = False
    request_id: str | None = Field(default=None, max_length=128)
    user_id: str | None = Field(default=None, max_length=128)

    def to_query(self) -> WebSearchQuery:
        return WebSearchQuery(
            self.search_query,
            self.count,
            self.search_engine,
            self.search_domain_filter,
            self.search_recency_filter,
            self.content_size,
        )


class SearchIntent(BaseModel):
    query: str
    intent: str
    keywords: str


class SearchResultItem(BaseModel):
    title: str
    link: str
    content: str
    media: str
    icon: str
    refer: str
    publish_date: str
    images: list[str] = Field(default_factory=list)


class WebSearchResponse(BaseModel):
    id: str
    created: int
    request_id: str
    search_intent: list[SearchIntent]
    search_result: list[SearchResultItem]


def web_search_answer(answer: WebSearchAnswer, with_intent: bool) -> WebSearchResponse:
    intent = (
        [SearchIntent(query=answer.query, intent="SEARCH_ALL", keywords=answer.query)] if with_intent else []
    )
    items = [
        SearchResultItem(
            title=r.title,
            link=r.link,
            content=r.content,
            media=r.media,
            icon=r.icon,
            refer=r.refer,
            publish_date=r.publish_date,
        )
        for r in answer.results
    ]
    return WebSearchResponse(
        id=answer.request_id,
        created=int(time.time()),
        request_id=answer.request_id,
        search_intent=intent,
        search_result=items,
    )


@router.post("/web_search", response_model=WebSearchResponse)
async def web_search(
    body: WebSearchBody, services: ServicesDep, principal: PrincipalDep
) -> WebSearchResponse:
    answer = await services.tools.web_search.search(
        principal, services.search, body.to_query(), body.request_id
    )
    return web_search_answer(answer, body.search_intent)
