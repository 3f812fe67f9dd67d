"""End to end on the real weights with the real zhipuai SDK: a fact found nowhere else is
uploaded, indexed, and answered through the retrieval tool; another account sees nothing."""

from __future__ import annotations

import httpx
import pytest
from zhipuai import APIStatusError, ZhipuAI

from tests.conftest import add_tenant
from tests.sdk._support import wait_for

pytestmark = pytest.mark.slow

FACT = (
    "Internal memo. The secret launch code for Project Marigold is ZEBRA-7731. "
    "Project Marigold is led by Dr. Ines Okafor from the Lisbon office. "
    "The cafeteria serves lentil soup on Tuesdays."
)


def test_uploaded_fact_is_answered_through_the_retrieval_tool(real_model_server):
    server = real_model_server
    client = ZhipuAI(api_key=server.tenant.api_key, base_url=server.zhipu_base, max_retries=0)
    kb = client.knowledge.create(embedding_id=3, name="memos", description="internal memos")
    uploaded = client.knowledge.document.create(
        file=("memo.txt", FACT.encode(), "text/plain"), purpose="retrieval", knowledge_id=kb.id
    )
    document_id = uploaded.successInfos[0].documentId
    wait_for(lambda: client.knowledge.document.retrieve(document_id).embedding_stat == 1, timeout=120)

    answer = client.chat.completions.create(
        model="glm-4",
        temperature=0.01,
        messages=[{"role": "user", "content": "What is the secret launch code for Project Marigold?"}],
        tools=[{"type": "retrieval", "retrieval": {"knowledge_id": kb.id}}],
    )
    assert "ZEBRA-7731" in answer.choices[0].message.content

    trace = httpx.get(
        f"{server.zhipu_base}/knowledge/traces/{answer.request_id}", headers=server.tenant.headers
    ).json()
    assert trace["final"][0]["document_name"] == "memo.txt"

    intruder = add_tenant(server.services, "intruder")
    other = ZhipuAI(api_key=intruder.api_key, base_url=server.zhipu_base, max_retries=0)
    assert other.knowledge.query().list == []
    with pytest.raises(APIStatusError) as caught:
        other.knowledge.document.retrieve(document_id)
    assert caught.value.status_code == 404
    with pytest.raises(APIStatusError):
        other.chat.completions.create(
            model="glm-4",
            messages=[{"role": "user", "content": "launch code?"}],
            tools=[{"type": "retrieval", "retrieval": {"knowledge_id": kb.id}}],
        )
    assert other.files.list().data == []
    client.close()
    other.close()
