"""Responses built-in tools: `file_search` over this platform's knowledge bases (vector_store_ids
are knowledge base ids) and `web_search` through the configured provider."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI

from openmaas.search.providers import SearxNGProvider
from tests.sdk._support import wait_for

FACT = "The lighthouse of Varnholm is kept by Elsbeth Quorn. "


def make_knowledge_base(server, tenant, text: str) -> str:
    base = httpx.post(
        f"{server.zhipu_base}/knowledge", headers=tenant.headers, json={"embedding_id": 3, "name": "docs"}
    ).json()["id"]
    upload = httpx.post(
        f"{server.zhipu_base}/files",
        headers=tenant.headers,
        data={"purpose": "retrieval", "knowledge_id": base},
        files={"file": ("varnholm.txt", text.encode(), "text/plain")},
    ).json()
    document_id = upload["successInfos"][0]["documentId"]
    wait_for(
        lambda: (
            httpx.get(f"{server.zhipu_base}/document/{document_id}", headers=tenant.headers).json()[
                "embedding_stat"
            ]
            == 1
        ),
        timeout=60,
    )
    return base


def test_file_search_over_a_knowledge_base(oai, engine, agent_server, tenant, other_tenant):
    base = make_knowledge_base(agent_server, tenant, FACT * 3 + "\n\n" + "Unrelated filler. " * 300)
    engine.enqueue("Elsbeth Quorn keeps it [1].")
    response = oai.responses.create(
        model="glm-4",
        input="Who keeps the lighthouse of Varnholm?",
        tools=[{"type": "file_search", "vector_store_ids": [base]}],
    )
    search, message = response.output
    assert search.type == "file_search_call" and search.status == "completed"
    assert search.queries == ["Who keeps the lighthouse of Varnholm?"]
    assert any("Elsbeth Quorn" in r.text for r in search.results)
    assert message.type == "message" and response.output_text == "Elsbeth Quorn keeps it [1]."
    assert "Elsbeth Quorn" in engine.prompts[-1].text  # the passages reached the model
    intruder = OpenAI(api_key=other_tenant.api_key, base_url=agent_server.openai_base, max_retries=0)
    before = engine.generations
    with pytest.raises(openai.NotFoundError):  # another account's knowledge base does not exist for them
        intruder.responses.create(
            model="glm-4", input="Who keeps it?", tools=[{"type": "file_search", "vector_store_ids": [base]}]
        )
    assert engine.generations == before


def test_web_search_through_the_provider(oai, engine, agent_server, tenant):
    queries = []

    def searx(request: httpx.Request) -> httpx.Response:
        queries.append(request.url.params["q"])
        return httpx.Response(
            200,
            json={
                "results": [
                    {
                        "title": "OpenMaaS 1.0 released",
                        "url": "https://example.org/a",
                        "content": "It ships today.",
                    }
                ]
            },
        )

    services = agent_server.services
    services.billing.admin_credit("admin", tenant.account_id, 100_000, "a search is paid in cash")
    before, services.search = (
        services.search,
        SearxNGProvider("http://searx.test", transport=httpx.MockTransport(searx)),
    )
    try:
        engine.enqueue("It ships today [1].")
        response = oai.responses.create(
            model="glm-4", input="Is OpenMaaS 1.0 out?", tools=[{"type": "web_search"}]
        )
    finally:
        services.search = before
    call = response.output[0]
    assert call.type == "web_search_call" and call.action.query == "Is OpenMaaS 1.0 out?"
    assert queries == ["Is OpenMaaS 1.0 out?"]
    assert "It ships today." in engine.prompts[-1].text
    assert response.output_text == "It ships today [1]."


def test_web_search_without_a_provider_is_a_clear_error(oai, engine):
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(model="glm-4", input="news?", tools=[{"type": "web_search_preview"}])
    assert "web search provider" in caught.value.body["message"]
