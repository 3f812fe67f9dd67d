"""POST /embeddings on both surfaces: shapes, base64, dimensions, errors, the real SDKs."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from openai import OpenAI
from zhipuai import ZhipuAI
from zhipuai.core._errors import APIRequestFailedError

from openmaas.embeddings.settings import EmbeddingModelConfig, EmbeddingsSettings

ZHIPU = "/api/paas/v4/embeddings"
OPENAI = "/v1/embeddings"


def post(harness, path, body):
    return harness.client.post(path, json=body, headers=harness.tenant.headers)


def test_string_input_zhipu_shape(harness):
    response = post(harness, ZHIPU, {"model": "embedding-2", "input": "你好，世界"})
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["object"] == "list" and data["model"] == "embedding-2"
    assert [d["index"] for d in data["data"]] == [0] and data["data"][0]["object"] == "embedding"
    vector = np.array(data["data"][0]["embedding"])
    assert vector.shape == (64,) and abs(np.linalg.norm(vector) - 1) < 1e-4
    usage = data["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] == 0
    assert usage["total_tokens"] == usage["prompt_tokens"]


def test_list_input_and_base64_agree(harness):
    texts = ["red apple", "green pear", "blue sea"]
    floats = post(harness, OPENAI, {"model": "embedding-2", "input": texts}).json()
    packed = post(
        harness, OPENAI, {"model": "embedding-2", "input": texts, "encoding_format": "base64"}
    ).json()
    assert len(floats["data"]) == 3
    for f, p in zip(floats["data"], packed["data"], strict=True):
        decoded = np.frombuffer(base64.b64decode(p["embedding"]), dtype="<f4")
        assert np.allclose(decoded, np.array(f["embedding"], dtype=np.float32))


@pytest.mark.parametrize("path", [ZHIPU, OPENAI])
def test_token_arrays_are_cl100k_ids(harness, path):
    """OpenAI takes token-id arrays (cl100k_base) and OpenAI-compatible clients send them."""
    texts = post(
        harness,
        path,
        {"model": "embedding-2", "input": ["hello world", "the cat sat"], "encoding_format": "float"},
    ).json()
    ids = [[15339, 1917], [1820, 8415, 7731]]  # cl100k_base: "hello world", "the cat sat"
    for body_input, rows in ((ids, texts["data"]), (ids[0], texts["data"][:1])):
        body = {"model": "embedding-2", "input": body_input, "encoding_format": "float"}
        response = post(harness, path, body)
        assert response.status_code == 200, response.text
        got = [d["embedding"] for d in response.json()["data"]]
        assert np.allclose(got, [row["embedding"] for row in rows], atol=1e-6)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"model": "no-such-model", "input": "x"}, "1211"),
        ({"model": "embedding-2", "input": ""}, "1214"),
        ({"model": "embedding-2", "input": []}, "1214"),
        ({"model": "embedding-2", "input": [[1, 2, 10**9]]}, "1214"),  # not a cl100k_base id
        ({"model": "embedding-2", "input": "x", "dimensions": 1024}, "1214"),
        ({"model": "embedding-2", "input": ["x"] * 2049}, "1214"),
        ({"model": "embedding-2", "input": "word " * 600}, "1261"),
        ({"model": "embedding-2"}, "1213"),
    ],
)
def test_bad_requests_have_codes(harness, body, code):
    response = post(harness, ZHIPU, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code


def test_openai_error_envelope(harness):
    error = post(harness, OPENAI, {"model": "nope", "input": "x"}).json()["error"]
    assert error["code"] == "1211" and error["type"] == "invalid_request_error"


def test_dimensions_truncate_where_the_model_allows(make_settings):
    from fastapi.testclient import TestClient

    from openmaas.app import create_app
    from tests.conftest import add_tenant

    models = [EmbeddingModelConfig(name="mrl", engine="fake", dimensions=64, truncatable_dimensions=[16, 32])]
    app = create_app(make_settings(embeddings=EmbeddingsSettings(models=models)))
    with TestClient(app) as client:
        tenant = add_tenant(app.state.services)
        words = "one two three four five six seven eight nine ten"
        response = client.post(
            ZHIPU, json={"model": "mrl", "input": words, "dimensions": 16}, headers=tenant.headers
        )
        vector = np.array(response.json()["data"][0]["embedding"])
        assert vector.shape == (16,) and abs(np.linalg.norm(vector) - 1) < 1e-4
        assert (
            client.post(
                ZHIPU, json={"model": "mrl", "input": "abc", "dimensions": 20}, headers=tenant.headers
            ).status_code
            == 400
        )


def test_requires_authentication(harness):
    response = harness.client.post(ZHIPU, json={"model": "embedding-2", "input": "x"})
    assert response.status_code == 401


def test_usage_is_recorded(harness):
    from tests.sdk._support import usage_rows, wait_for

    post(harness, ZHIPU, {"model": "embedding-2", "input": "count me", "request_id": "emb-1"})
    rows = wait_for(lambda: usage_rows(harness.services, request_id="emb-1"))
    assert rows[0].endpoint == "embeddings" and rows[0].prompt_tokens > 0


def test_zhipuai_and_openai_sdks(live_server):
    zhipu = ZhipuAI(api_key=live_server.tenant.api_key, base_url=live_server.zhipu_base, max_retries=0)
    result = zhipu.embeddings.create(model="embedding-2", input=["hello", "world"])
    assert len(result.data) == 2 and len(result.data[0].embedding) == 64
    assert result.usage.total_tokens > 0
    newer = zhipu.embeddings.create(model="embedding-3", input="hello")  # today's tutorials
    assert newer.model == "embedding-3" and len(newer.data[0].embedding) == 64
    with pytest.raises(APIRequestFailedError) as refused:  # its hosted 2048-d is not ours
        zhipu.embeddings.create(model="embedding-3", input="hello", dimensions=2048)
    assert refused.value.status_code == 400 and '"1214"' in str(refused.value)
    oai = OpenAI(api_key=live_server.tenant.api_key, base_url=live_server.openai_base, max_retries=0)
    default = oai.embeddings.create(model="embedding-2", input="hello")  # sends base64
    floats = oai.embeddings.create(model="embedding-2", input="hello", encoding_format="float")
    assert np.allclose(default.data[0].embedding, floats.data[0].embedding, atol=1e-6)
    zhipu.close()
    oai.close()


def test_default_catalog_answers_both_zhipu_names():
    (default, *_) = EmbeddingsSettings().models
    assert {"embedding-2", "embedding-3"} <= set(default.aliases)
    assert {default.embedding_id, *default.also_embedding_ids} == {3, 11}


def test_an_embedding_id_selects_one_model_only():
    with pytest.raises(ValueError, match=r"embedding_id values used twice: \[11\]"):
        EmbeddingsSettings(
            models=[
                EmbeddingModelConfig(name="a", engine="fake", embedding_id=3, also_embedding_ids=[11]),
                EmbeddingModelConfig(name="b", engine="fake", embedding_id=11),
            ]
        )


@pytest.mark.slow
def test_the_default_model_embeds_inputs_past_its_512_positions(make_settings):
    """Real e5 weights: a 2,000-token chunk (what LangChain sends whole) embeds as the mean of
    its windows, billed for every token; the request's total stays bounded."""
    from fastapi.testclient import TestClient

    from openmaas.app import create_app
    from tests.conftest import add_tenant

    settings = make_settings(embeddings=EmbeddingsSettings())
    with TestClient(create_app(settings)) as client:
        tenant = add_tenant(client.app.state.services)
        long_text = "知识库检索 retrieval over long documents. " * 250
        answer = client.post(
            OPENAI, headers=tenant.headers, json={"model": "embedding-3", "input": long_text}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["usage"]["prompt_tokens"] > 1500
        assert len(answer.json()["data"][0]["embedding"]) == 384
        too_much = client.post(
            OPENAI, headers=tenant.headers, json={"model": "embedding-3", "input": [long_text] * 40}
        )
        assert too_much.status_code == 400 and "in total" in too_much.json()["error"]["message"]
