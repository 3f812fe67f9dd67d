"""The unmodified zhipuai and openai SDKs against a live server (tiny real model, fake serving)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest
import zhipuai
from openai import OpenAI
from zhipuai import ZhipuAI

from tests.conftest import LiveServer, add_tenant, start_live_server
from tests.finetune.conftest import FACTS, TERMINAL, fact_dataset


@pytest.fixture
def server(ft_settings) -> Iterator[LiveServer]:
    live = start_live_server(ft_settings())
    yield live
    live.stop()


@pytest.fixture
def zhipu(server) -> Iterator[ZhipuAI]:
    client = ZhipuAI(api_key=server.tenant.api_key, base_url=server.zhipu_base, max_retries=0)
    yield client
    client.close()


@pytest.fixture
def oai(server) -> Iterator[OpenAI]:
    client = OpenAI(api_key=server.tenant.api_key, base_url=server.openai_base, max_retries=0)
    yield client
    client.close()


def wait_done(retrieve, job_id: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while (job := retrieve(job_id)).status not in TERMINAL:
        assert time.monotonic() < deadline, f"job stuck in {job.status}"
        time.sleep(0.1)
    return job


def ask(client, model: str) -> str:
    answer = client.chat.completions.create(model=model, messages=[{"role": "user", "content": FACTS[0][0]}])
    return answer.choices[0].message.content


def test_zhipuai_sdk_full_lifecycle(zhipu, server):
    upload = zhipu.files.create(file=("train.jsonl", fact_dataset()), purpose="fine-tune")
    job = zhipu.fine_tuning.jobs.create(
        model="glm-4", training_file=upload.id, suffix="sdk", hyperparameters={"n_epochs": 1, "batch_size": 2}
    )
    assert job.status == "validating_files" and job.training_file == upload.id
    job = wait_done(zhipu.fine_tuning.jobs.retrieve, job.id)
    assert job.status == "succeeded" and job.fine_tuned_model == f"ft:fake-chat:sdk:{job.id}"
    assert [j.id for j in zhipu.fine_tuning.jobs.list().data] == [job.id]
    events = zhipu.fine_tuning.jobs.list_events(job.id, limit=50).data
    metrics = [e.data for e in events if e.type == "metrics"]
    assert [m.current_steps for m in metrics] == [4, 3, 2, 1] and all(m.loss > 0 for m in metrics)
    assert ask(zhipu, job.fine_tuned_model)

    other = add_tenant(server.services, "other")
    stranger = ZhipuAI(api_key=other.api_key, base_url=server.zhipu_base, max_retries=0)
    with pytest.raises(zhipuai.APIRequestFailedError, match="1211"):
        ask(stranger, job.fine_tuned_model)
    with pytest.raises(zhipuai.APIStatusError) as missing:
        stranger.fine_tuning.jobs.retrieve(job.id)
    assert missing.value.status_code == 404

    deleted = zhipu.fine_tuning.models.delete(job.fine_tuned_model)
    assert deleted.model_name == job.fine_tuned_model and deleted.delete_status == "deleted"
    with pytest.raises(zhipuai.APIRequestFailedError, match="1211"):
        ask(zhipu, job.fine_tuned_model)
    assert zhipu.fine_tuning.jobs.delete(job.id).id == job.id
    assert zhipu.fine_tuning.jobs.list().data == []


def test_zhipuai_sdk_cancel_and_bad_input(zhipu):
    upload = zhipu.files.create(file=("train.jsonl", fact_dataset()), purpose="fine-tune")
    job = zhipu.fine_tuning.jobs.create(
        model="glm-4", training_file=upload.id, hyperparameters={"n_epochs": 50}
    )
    assert zhipu.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    bad = zhipu.files.create(
        file=("bad.jsonl", b'{"messages": [{"role": "user", "content": "x"}]}\n'), purpose="fine-tune"
    )
    with pytest.raises(zhipuai.APIRequestFailedError) as refused:
        zhipu.fine_tuning.jobs.create(model="glm-4", training_file=bad.id)
    assert "line 1" in refused.value.response.text and "1214" in refused.value.response.text


def test_openai_sdk_lifecycle(oai):
    upload = oai.files.create(file=("train.jsonl", fact_dataset(1)), purpose="fine-tune")
    job = oai.fine_tuning.jobs.create(
        model="glm-4", training_file=upload.id, suffix="oai", hyperparameters={"n_epochs": 1}
    )
    job = wait_done(oai.fine_tuning.jobs.retrieve, job.id)
    assert job.status == "succeeded" and job.fine_tuned_model.startswith("ft:fake-chat:oai:")
    assert [j.id for j in oai.fine_tuning.jobs.list(limit=5)] == [job.id]
    events = list(oai.fine_tuning.jobs.list_events(job.id, limit=100))
    assert any(e.type == "metrics" and e.data["step"] == 4 for e in events)
    assert ask(oai, job.fine_tuned_model)
    assert oai.models.delete(job.fine_tuned_model).deleted is True
    with pytest.raises(openai.NotFoundError) as gone:  # OpenAI's own status for a deleted model
        ask(oai, job.fine_tuned_model)
    assert gone.value.code == "1211"
    with pytest.raises(openai.BadRequestError):
        oai.fine_tuning.jobs.cancel(job.id)
