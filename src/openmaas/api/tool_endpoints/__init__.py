"""Routers of the platform's tool endpoints (tokenizer, rerank, web search, moderations,
file parser, OCR and layout parsing, audio, async images and videos), per surface."""

from __future__ import annotations

from fastapi import APIRouter


def zhipu_routers() -> list[APIRouter]:
    from openmaas.api.tool_endpoints import (
        audio,
        file_parser,
        media,
        moderations,
        ocr,
        rerank,
        tokenizer,
        web_search,
    )

    return [
        tokenizer.router,
        rerank.zhipu_router,
        web_search.router,
        moderations.router,
        file_parser.router,
        ocr.router,
        audio.router,
        media.router,
    ]


def openai_routers() -> list[APIRouter]:
    """The OpenAI-surface twins where a peer serves one: /v1/rerank (vLLM, LiteLLM, Jina,
    Cohere), /v1/moderations, /v1/audio/*, /v1/tokenizer."""
    from openmaas.api.tool_endpoints import audio, moderations, rerank, tokenizer

    return [tokenizer.router, rerank.openai_router, moderations.router, audio.router]
