"""What the platform adds to a caller's messages before the model's chat template renders them.

Tool calls: when a tool takes a date or time, the current date and the coming days go into
the system message, so relative dates ("tomorrow", "下周一") resolve against today. Qwen-style
templates print the system message above the tool list; a caller's system message keeps its
text and gets the note appended, otherwise a plain assistant line carries it.
Measured on bench/tool_calling.py's dev split (see the README's quality table).
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date, timedelta

from openmaas.chat.types import ChatRequest
from openmaas.engines.base import ChatMessage

DEFAULT_SYSTEM = "You are a helpful assistant."
DATE_WORDS = re.compile(r"date|time|日期|时间|几号|星期", re.I)
WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEKDAYS_ZH = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


RELATIVE_DAYS = (
    (-1, "yesterday", "昨天"),
    (1, "tomorrow", "明天"),
    (2, "the day after tomorrow", "后天"),
    (3, "in 3 days", "大后天"),
    (7, "in a week", "一周后"),
)


def date_note(today: date) -> str:
    """Today, then the relative days and the coming week spelled out as ISO dates.

    Small models copy a date far more reliably than they add days to one: with today's date
    alone the 0.5B wrote today for "后天" and "next Monday" (bench/tool_calling.py dev)."""
    wd = today.weekday()
    relative = "; ".join(
        f"{en} ({zh}) = {(today + timedelta(days=n)).isoformat()}" for n, en, zh in RELATIVE_DAYS
    )
    week = "; ".join(
        f"{WEEKDAYS_EN[d.weekday()]} ({WEEKDAYS_ZH[d.weekday()]}) = {d.isoformat()}"
        for d in (today + timedelta(days=n) for n in range(1, 8))
    )
    return (
        f"Current date: {today.isoformat()} ({WEEKDAYS_EN[wd]}, {WEEKDAYS_ZH[wd]}).\n"
        f"Relative dates: {relative}.\nThe coming 7 days: {week}."
    )


def with_current_date(messages: list[ChatMessage], today: date) -> list[ChatMessage]:
    """The messages with today's date in the (first) system message, added if there is none."""
    note = date_note(today)
    if messages and messages[0].role == "system":
        first = messages[0]
        content = (first.content or "").rstrip()
        merged = f"{content}\n\n{note}" if content else f"{DEFAULT_SYSTEM}\n\n{note}"
        return [dataclasses.replace(first, content=merged), *messages[1:]]
    return [ChatMessage("system", f"{DEFAULT_SYSTEM}\n\n{note}"), *messages]


def calls_tools(request: ChatRequest) -> bool:
    tools = request.tools
    return bool(tools and tools.functions and tools.choice != "none")


def takes_dates(request: ChatRequest) -> bool:
    """A tool with a date or time among its parameters (name, format or description)."""
    return request.tools is not None and any(
        DATE_WORDS.search(json.dumps(f.parameters, ensure_ascii=False)) for f in request.tools.functions
    )


def prepare_request(request: ChatRequest, today: date) -> ChatRequest:
    """The request as the model should see it: with tools that take a date or time, today's
    date and the coming days are added (the note costs ~150 tokens, so only there)."""
    if not calls_tools(request) or not takes_dates(request):
        return request
    return dataclasses.replace(request, messages=with_current_date(request.messages, today))
