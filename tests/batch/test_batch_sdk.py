"""The unmodified `zhipuai` and `openai` SDKs drive batches against a live server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
import zhipuai
from openai import OpenAI
from zhipuai import ZhipuAI

from tests.batch.conftest import TERMINAL, chat_line, jsonl, parse_jsonl


@pytest.fixture
def zhipu(live_server) -> Iterator[ZhipuAI]:
    client = ZhipuAI(api_key=live_server.tenant.api_key, base_url=live_server.zhipu_base, max_retries=0)
    yield client
    client.close()


@pytest.fixture
def oai(live_server) -> Iterator[OpenAI]:
    client = OpenAI(api_key=live_server.tenant.api_key, base_url=live_server.openai_base, max_retries=0)
    yield client
    client.close()


def wait_done(retrieve, batch_id: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while (batch := retrieve(batch_id)).status not in TERMINAL:
        assert time.monotonic() < deadline, f"batch stuck in {batch.status}"
        time.sleep(0.05)
    return batch


def test_zhipuai_sdk_batch_round_trip(live_server, zhipu: ZhipuAI):
    lines = [chat_line(f"request-{i}", f"第 {i} 个问题") for i in range(3)]
    upload = zhipu.files.create(file=("batch.jsonl", jsonl(lines)), purpose="batch")
    assert upload.purpose == "batch"
    created = zhipu.batches.create(
        input_file_id=upload.id,
        endpoint="/v4/chat/completions",
        auto_delete_input_file=True,
        metadata={"description": "sentiment", "project": "demo"},
    )
    assert created.status == "validating" and created.metadata == {
        "description": "sentiment",
        "project": "demo",
    }
    batch = wait_done(zhipu.batches.retrieve, created.id)
    assert batch.status == "completed"
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (
        3,
        3,
        0,
    )
    assert batch.error_file_id is None
    outputs = parse_jsonl(zhipu.files.content(batch.output_file_id).content)
    assert [o["custom_id"] for o in outputs] == ["request-0", "request-1", "request-2"]
    assert outputs[2]["response"]["body"]["choices"][0]["message"]["content"] == "Echo: 第 2 个问题"
    headers = {"Authorization": f"Bearer {live_server.tenant.api_key}"}
    gone = httpx.get(f"{live_server.zhipu_base}/files/{upload.id}", headers=headers)
    assert gone.status_code == 404  # auto_delete_input_file


def test_zhipuai_sdk_list_iterates_to_the_end(zhipu: ZhipuAI):
    upload = zhipu.files.create(file=("batch.jsonl", jsonl([chat_line("a")])), purpose="batch")
    ids = [
        zhipu.batches.create(
            input_file_id=upload.id, endpoint="/v1/chat/completions", auto_delete_input_file=False
        ).id
        for _ in range(5)
    ]
    listed = [b.id for b in zhipu.batches.list(limit=2)]  # follows `after` until data is empty
    assert listed == ids[::-1]


def test_zhipuai_sdk_bad_input_is_a_400_naming_the_line(zhipu: ZhipuAI):
    lines = [chat_line("same"), chat_line("same")]
    upload = zhipu.files.create(file=("batch.jsonl", jsonl(lines)), purpose="batch")
    with pytest.raises(zhipuai.APIRequestFailedError) as caught:
        zhipu.batches.create(input_file_id=upload.id, endpoint="/v4/chat/completions")
    error = caught.value.response.json()["error"]
    assert error["code"] == "1214" and "line 2" in error["message"] and "custom_id" in error["message"]


def test_openai_sdk_batch_round_trip_and_cancel(live_server, oai: OpenAI):
    url = "/v1/chat/completions"
    upload = oai.files.create(
        file=("in.jsonl", jsonl([chat_line(f"q{i}", url=url) for i in range(2)])), purpose="batch"
    )
    batch = oai.batches.create(input_file_id=upload.id, endpoint=url, completion_window="24h")
    batch = wait_done(oai.batches.retrieve, batch.id)
    assert batch.status == "completed" and batch.request_counts.completed == 2
    assert batch.model == "glm-4" and batch.usage.total_tokens > 0
    outputs = parse_jsonl(oai.files.content(batch.output_file_id).read())
    assert [o["response"]["body"]["object"] for o in outputs] == ["chat.completion"] * 2

    live_server.services.catalog.resolve("fake-chat").engine.token_delay = 0.05
    slow = oai.files.create(
        file=("slow.jsonl", jsonl([chat_line(f"s{i}", url=url) for i in range(20)])), purpose="batch"
    )
    running = oai.batches.create(input_file_id=slow.id, endpoint=url, completion_window="24h")
    while oai.batches.retrieve(running.id).request_counts.completed < 1:
        time.sleep(0.02)
    assert oai.batches.cancel(running.id).status == "cancelling"
    cancelled = wait_done(oai.batches.retrieve, running.id, timeout=5)
    assert cancelled.status == "cancelled" and cancelled.request_counts.completed < 20
    assert [b.id for b in oai.batches.list(limit=1)] == [running.id, batch.id]
