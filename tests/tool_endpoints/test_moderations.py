"""POST /moderations through both SDKs: the local rule-based moderator."""

from __future__ import annotations

import json

import httpx
import pytest

from openmaas.moderation.rules import RuleModerator
from openmaas.moderation.settings import ModerationSettings


def test_zai_sdk_moderation_flags_and_passes(zai):
    answer = zai.moderations.create(model="moderation", input=["今天天气很好", "这里有赌 博网站和冰毒"])
    data = answer.model_dump() if hasattr(answer, "model_dump") else dict(answer)
    raw = getattr(answer, "result_list", None) or data.get("result_list")
    levels = [item["risk_level"] for item in raw]
    assert levels == ["PASS", "REJECT"]
    assert raw[1]["risk_type"] == ["illegal"]


def test_zhipuai_sdk_moderation(zhipu):
    answer = zhipu.moderations.create(model="moderation", input="How to make a bomb at home")
    raw = getattr(answer, "result_list", None) or answer.model_dump().get("result_list")
    assert raw[0]["risk_level"] == "REJECT" and raw[0]["risk_type"] == ["violence"]


def test_text_objects_and_bad_input(tool_server, tenant):
    url = f"{tool_server.zhipu_base}/moderations"
    ok = httpx.post(
        url, headers=tenant.headers, json={"model": "moderation", "input": {"type": "text", "text": "hello"}}
    )
    assert ok.status_code == 200 and ok.json()["result_list"][0]["risk_level"] == "PASS"
    assert ok.json()["usage"]["moderation_text"]["call_count"] == 1 and ok.json()["flagged"] is False
    for body in (
        {"model": "moderation", "input": ""},
        {"model": "moderation", "input": []},
        {"model": "moderation", "input": {"type": "image_url", "image_url": "http://x"}},
        {"model": "moderation", "input": "x" * 20_001},
    ):
        bad = httpx.post(url, headers=tenant.headers, json=body)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "1214", body
    unknown = httpx.post(url, headers=tenant.headers, json={"model": "nope", "input": "x"})
    assert unknown.json()["error"]["code"] == "1211"


def test_rules_configurable_terms_files_and_review(tmp_path):
    terms = tmp_path / "ads.txt"
    terms.write_text("# promotional terms\n加微信\nlimited offer\n", encoding="utf-8")
    moderator = RuleModerator(
        ModerationSettings(
            categories={"abuse": ["idiot"]}, term_files={"ad": terms}, review_categories=["ad"]
        )
    )
    assert moderator.check("请 加-微-信 领取").risk_level == "REVIEW"
    assert moderator.check("LIMITED   OFFER!!").risk_types == ("ad",)
    both = moderator.check("limited offer, idiot")
    assert both.risk_level == "REJECT" and both.risk_types == ("abuse", "ad")
    assert moderator.check("a perfectly fine sentence").risk_level == "PASS"


@pytest.mark.parametrize("text", ["色 情", "ＰＯＲＮ", "Porn-ography"])
def test_normalisation_catches_spacing_and_width(text):
    assert RuleModerator(ModerationSettings()).check(text).risk_level == "REJECT"


def test_upstream_moderation_model_judges_when_configured(zai, tool_server):
    """An OpenAI-style /v1/moderations upstream (a stand-in through httpx MockTransport)."""
    from openmaas.engines.upstream_tools import UpstreamToolClient

    def stand_in(request: httpx.Request) -> httpx.Response:
        texts = json.loads(request.content)["input"]
        return httpx.Response(
            200,
            json={
                "results": [
                    {"flagged": "bad" in t, "categories": {"harassment": "bad" in t, "violence": False}}
                    for t in texts
                ]
            },
        )

    service = tool_server.services.tools.moderation
    service._upstream = UpstreamToolClient(
        "http://mod.test", "omni-moderation", None, 5, transport=httpx.MockTransport(stand_in)
    )
    try:
        answer = zai.moderations.create(model="moderation", input=["a bad word", "色情"])
        raw = getattr(answer, "result_list", None) or answer.model_dump().get("result_list")
        assert [(r["risk_level"], r["risk_type"]) for r in raw] == [("REJECT", ["harassment"]), ("PASS", [])]
    finally:
        service._upstream = None
