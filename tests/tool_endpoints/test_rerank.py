"""POST /rerank (platform shape) and /v1/rerank (Jina/Cohere shape): validation, shapes and
billing on fake embeddings; ordering on the real packaged weights (English cross-encoder,
Chinese and mixed text through the e5 embedding cosine)."""

from __future__ import annotations

import httpx
import pytest

from tests.sdk._support import usage_rows, wait_for
from tests.tool_endpoints.conftest import paying_tenant, start_live_server, tool_settings

EN_QUERY = "How do I reset my account password?"
EN_DOCS = [
    "The cafeteria serves fish on Fridays.",
    "To reset your password, open Settings, choose Security and click 'Reset password'.",
    "Our office is closed on public holidays.",
]
ZH_QUERY = "如何重置账户密码？"
ZH_DOCS = [
    "食堂每周五供应清蒸鲈鱼。",
    "重置密码：打开设置，进入账户安全，点击“重置密码”，按短信验证码完成。",
    "公司在法定节假日放假。",
]


def rerank(server, tenant, body, prefix="/api/paas/v4"):
    return httpx.post(f"{server.base_url}{prefix}/rerank", json=body, headers=tenant.headers, timeout=120)


def test_platform_shape_top_n_documents_and_usage(tool_server, tenant):
    body = {"model": "rerank", "query": ZH_QUERY, "documents": ZH_DOCS, "top_n": 2, "return_documents": True}
    response = rerank(tool_server, tenant, body)
    assert response.status_code == 200, response.text
    data = response.json()
    assert len(data["results"]) == 2 and data["usage"]["total_tokens"] == data["usage"]["prompt_tokens"] > 0
    scores = [r["relevance_score"] for r in data["results"]]
    assert scores == sorted(scores, reverse=True)
    assert all(r["document"] == ZH_DOCS[r["index"]] for r in data["results"])
    plain = rerank(tool_server, tenant, body | {"return_documents": False, "top_n": 0}).json()
    assert len(plain["results"]) == 3 and all("document" not in r for r in plain["results"])
    rows = wait_for(
        lambda: usage_rows(tool_server.services, account_id=tenant.account_id, model="tool:rerank")
    )
    assert rows[0].prompt_tokens == data["usage"]["prompt_tokens"] and rows[0].status == "success"


def test_jina_cohere_shape_on_v1(tool_server, tenant):
    data = rerank(
        tool_server, tenant, {"model": "rerank", "query": EN_QUERY, "documents": EN_DOCS}, prefix="/v1"
    ).json()
    assert set(data) == {"id", "model", "results", "usage"}
    assert all(r["document"]["text"] == EN_DOCS[r["index"]] for r in data["results"])
    assert data["usage"]["total_tokens"] > 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "rerank", "query": "", "documents": ["a"]}, "query"),
        ({"model": "rerank", "query": "q", "documents": []}, "documents"),
        ({"model": "rerank", "query": "q", "documents": ["ok", " "]}, "documents[1]"),
        ({"model": "rerank", "query": "q" * 4097, "documents": ["a"]}, "query"),
        ({"model": "rerank", "query": "q", "documents": ["a"] * 129}, "documents"),
    ],
)
def test_bad_input_names_the_field(tool_server, tenant, body, field):
    response = rerank(tool_server, tenant, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "1214" and field in response.json()["error"]["message"]


def test_unknown_rerank_model_is_1211(tool_server, tenant):
    response = rerank(tool_server, tenant, {"model": "bge-reranker", "query": "q", "documents": ["a"]})
    assert response.status_code == 400 and response.json()["error"]["code"] == "1211"


@pytest.fixture(scope="module")
def real_server(tmp_path_factory):
    from openmaas.embeddings.settings import EmbeddingsSettings, default_embedding_models

    server = start_live_server(
        tool_settings(
            tmp_path_factory.mktemp("rerank-real"),
            embeddings=EmbeddingsSettings(models=default_embedding_models()[:1]),
        )
    )
    yield server
    server.stop()


@pytest.mark.slow
def test_english_ordering_through_the_cross_encoder(real_server):
    tenant = paying_tenant(real_server)
    data = rerank(real_server, tenant, {"model": "rerank", "query": EN_QUERY, "documents": EN_DOCS}).json()
    assert data["results"][0]["index"] == 1, data
    assert data["results"][0]["relevance_score"] > 0.5 > data["results"][-1]["relevance_score"]
    assert real_server.services.tools.rerank.method_for(EN_QUERY, EN_DOCS) == "cross-encoder"


@pytest.mark.slow
def test_chinese_and_mixed_ordering_through_e5(real_server):
    tenant = paying_tenant(real_server)
    data = rerank(real_server, tenant, {"model": "rerank", "query": ZH_QUERY, "documents": ZH_DOCS}).json()
    assert data["results"][0]["index"] == 1, data
    assert real_server.services.tools.rerank.method_for(ZH_QUERY, ZH_DOCS) == "embedding"
    mixed = rerank(
        real_server,
        tenant,
        {
            "model": "rerank",
            "query": "reset password 重置密码",
            "documents": [EN_DOCS[0], ZH_DOCS[1], EN_DOCS[2]],
        },
    ).json()
    assert mixed["results"][0]["index"] == 1, mixed
