"""The issue-20 eval sets and their graders (no weights): sizes, the stored split, the rules."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import pytest

from openmaas.chat.prompting import date_note, prepare_request, with_current_date
from openmaas.chat.tools import ToolSpec, parse_function_tools
from openmaas.chat.types import ChatRequest
from openmaas.engines.base import ChatMessage

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import knowledge_answers  # noqa: E402
import knowledge_set  # noqa: E402
import tool_calling  # noqa: E402
import tool_cases  # noqa: E402


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_tool_cases_file_is_current_and_split():
    stored = jsonl(tool_cases.OUT)
    assert stored == json.loads(json.dumps(tool_cases.rows(), ensure_ascii=False))  # regenerated
    assert len(stored) >= 150
    splits = {c["split"] for c in stored}
    assert splits == {"dev", "test"}
    dev = sum(c["split"] == "dev" for c in stored)
    assert 0.4 < dev / len(stored) < 0.6
    assert all(c["split"] == tool_cases.split_of(c["id"]) for c in stored)
    assert {c["lang"] for c in stored} >= {"zh", "en"}
    assert sum(c["expected"]["name"] is None for c in stored) >= 15
    assert sum(len(c["messages"]) > 1 for c in stored) >= 15


def test_knowledge_set_is_current_and_split():
    stored = jsonl(knowledge_set.OUT)
    assert stored == knowledge_set.rows()
    assert len(stored) >= 150
    assert len(list(knowledge_set.DOCS.iterdir())) >= 30
    directions = {q["direction"] for q in stored}
    assert directions == {"zh", "en", "zh->en", "en->zh", "absent"}
    assert {q["split"] for q in stored} == {"dev", "test"}


TODAY = date(2026, 3, 11)  # a Wednesday


@pytest.mark.parametrize(
    ("rule", "value", "ok"),
    [
        ({"date": {"days": 1}}, "2026-03-12", True),
        ({"date": {"days": 1}}, "2026-03-12T09:00:00", True),
        ({"date": {"days": 1}}, "2026-03-13", False),
        ({"date": {"weekday": 4}}, "2026-03-13", True),  # "next Friday": this coming one
        ({"date": {"weekday": 4}}, "2026-03-20", True),  # ... or the one after
        ({"date": {"weekday": 2}}, "2026-03-11", False),  # "next Wednesday" is not today
        ({"approx": 16.09, "tol": 0.2}, 16.0, True),
        ({"approx": 16.09, "tol": 0.2}, 10, False),
        ({"has_all": ["a@x.io", "b@x.io"]}, ["A@x.io", "b@x.io"], True),
        ({"has_all": ["a@x.io", "b@x.io"]}, ["a@x.io"], False),
        ({"equals": 2}, 2.0, True),
        ({"equals": 2}, True, False),
    ],
)
def test_argument_rules(rule, value, ok):
    assert tool_calling.value_matches(value, rule, TODAY) is ok


def test_score_nested_paths_and_no_tool_cases():
    case = next(c for c in jsonl(tool_cases.OUT) if c["id"] == "o01")
    args = {
        "customer": {"name": "Li Lei", "phone": "13511112222"},
        "shipping": "express",
        "items": [{"sku": "AB-1234", "quantity": 2}, {"sku": "CD-5678", "quantity": 1}],
    }
    good = tool_calling.score(case, [("create_order", json.dumps(args))], TODAY)
    assert good["valid"] and good["function"] and good["arguments"]
    args["items"][1]["quantity"] = 3
    bad = tool_calling.score(case, [("create_order", json.dumps(args))], TODAY)
    assert bad["function"] and not bad["arguments"] and bad["wrong_args"] == ["items.1.quantity"]
    none_case = next(c for c in jsonl(tool_cases.OUT) if c["expected"]["name"] is None)
    assert tool_calling.score(none_case, [], TODAY)["arguments"]
    called = tool_calling.score(none_case, [(none_case["tools"][0]["function"]["name"], "{}")], TODAY)
    assert not called["function"]


def test_knowledge_grader():
    q = {"absent": False, "answers": ["6,800"], "lang": "zh"}
    assert knowledge_answers.grade(q, "月租金为人民币6800元 [1]")
    assert not knowledge_answers.grade(q, "月租金为人民币8600元")
    absent = {"absent": True, "answers": [], "lang": "en"}
    assert knowledge_answers.grade(absent, "The documents do not contain this information.")
    assert not knowledge_answers.grade(absent, "It is 42 euros.")
    assert knowledge_answers.language_ok({"lang": "zh"}, "保修期为 36 个月 [1]")
    assert not knowledge_answers.language_ok({"lang": "en"}, "保修期为三十六个月，请注意")


def test_date_note_goes_into_the_system_message():
    user = ChatMessage("user", "remind me tomorrow")
    added = with_current_date([user], TODAY)
    assert added[0].role == "system" and "2026-03-11" in added[0].content and "Wednesday" in added[0].content
    merged = with_current_date([ChatMessage("system", "Be brief."), user], TODAY)
    assert len(merged) == 2 and merged[0].content.startswith("Be brief.")
    assert date_note(TODAY) in merged[0].content
    tools = ToolSpec(tuple(parse_function_tools([tool_cases.TOOLS["set_reminder"]])), "auto")
    prepared = prepare_request(ChatRequest(model="m", messages=[user], tools=tools), TODAY)
    assert prepared.messages[0].role == "system"
    plain = ChatRequest(model="m", messages=[user])
    assert prepare_request(plain, TODAY) is plain  # no tools: the caller's messages untouched


def test_no_date_note_for_tools_without_dates():
    user = ChatMessage("user", "180 lb in kg")
    tools = ToolSpec(tuple(parse_function_tools([tool_cases.TOOLS["convert_units"]])), "auto")
    request = ChatRequest(model="m", messages=[user], tools=tools)
    assert prepare_request(request, TODAY) is request
