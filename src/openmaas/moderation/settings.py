"""Moderation settings (`settings.tools.moderation`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from openmaas.tools_api.upstream_config import UpstreamToolConfig


def default_categories() -> dict[str, list[str]]:
    """A small starting list per category; operators extend or replace it (`categories`,
    `term_files`). Terms match case-insensitively, ignoring spaces and punctuation between
    characters (so "赌 博" and "G-a-m-b-l-i-n-g" match too)."""
    return {
        "porn": ["色情", "淫秽", "裸聊", "porn", "pornography"],
        "violence": ["砍死", "杀人方法", "制造炸弹", "how to make a bomb", "kill them all"],
        "illegal": ["赌博网站", "代开发票", "贩卖毒品", "冰毒", "洗钱", "buy cocaine", "money laundering"],
        "abuse": ["傻逼", "去死吧", "fuck you"],
    }


class ModerationSettings(BaseModel):
    names: list[str] = Field(default_factory=lambda: ["moderation", "moderations", "glm-moderation"])
    categories: dict[str, list[str]] = Field(default_factory=default_categories)
    # category → a UTF-8 file with one term per line ('#' comments), added to `categories`
    term_files: dict[str, Path] = Field(default_factory=dict)
    # these categories answer REVIEW instead of REJECT
    review_categories: list[str] = Field(default_factory=list)
    # an OpenAI-style /v1/moderations server (e.g. a moderation model behind vLLM); when set,
    # it judges every input and the term lists are not used
    upstream: UpstreamToolConfig | None = None
    max_input_chars: int = 20_000
    max_inputs: int = 32
    # chat's `sensitive_word_check` (always by these term lists, never the upstream): the
    # setting used when a request does not say; a request's ENABLE / DISABLE wins
    check_chat_by_default: bool = False
    # an answer is checked at sentence ends, after this many new characters, and at its end
    chat_check_every_chars: int = Field(default=64, ge=1, le=100_000)
