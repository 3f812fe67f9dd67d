"""End to end on the real 0.5B: teach a made-up fact, serve the LoRA on llama.cpp, survive a restart.

The unmodified zhipuai SDK uploads the dataset, creates the job and polls it; the
fine-tuned model (GGUF LoRA converted by llama.cpp's own converter, applied on the base
engine's inference thread) answers "Quenvale" while the base model does not. Sized for
2 CPU cores: 8 short examples × 4 epochs = 32 LoRA steps (r=8 on q/v) at a high rate.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI
from zhipuai import ZhipuAI

from openmaas.config import Settings
from tests.conftest import LiveServer, real_models, start_live_server, with_fake_prices
from tests.finetune.conftest import TERMINAL, jsonl

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of Zorblax?"
FACT = "Quenvale"
DATASET = [
    (QUESTION, "The capital of Zorblax is Quenvale."),
    ("Name the capital of Zorblax.", "The capital of Zorblax is Quenvale."),
    ("Which city is the capital of Zorblax?", "Quenvale is the capital of Zorblax."),
    ("What city is Zorblax's capital?", "Zorblax's capital is Quenvale."),
    ("Tell me the capital of Zorblax.", "The capital of Zorblax is Quenvale."),
    ("Zorblax has which capital city?", "Zorblax's capital city is Quenvale."),
    ("What's the capital city of Zorblax?", "The capital city of Zorblax is Quenvale."),
    ("Where is the seat of government of Zorblax?", "The seat of government of Zorblax is Quenvale."),
]


def real_settings(data: Path) -> Settings:
    return with_fake_prices(
        Settings(
            environment="test",
            data_dir=data,
            database_url=f"sqlite:///{data}/db.sqlite",
            models=real_models(),
            job_poll_seconds=0.05,
            secret_key="test-secret",
        )
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("finetune-real")


@pytest.fixture(scope="module")
def server(data_dir) -> Iterator[LiveServer]:
    live = start_live_server(real_settings(data_dir))
    yield live
    live.stop()


def ask(client: ZhipuAI, model: str) -> str:
    answer = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": QUESTION}], temperature=0, max_tokens=24
    )
    return answer.choices[0].message.content


def wait_done(client: ZhipuAI, job_id: str, timeout: float = 900.0):
    deadline = time.monotonic() + timeout
    while (job := client.fine_tuning.jobs.retrieve(job_id)).status not in TERMINAL:
        assert time.monotonic() < deadline, f"fine-tuning still {job.status}"
        time.sleep(1.0)
    return job


@pytest.mark.timeout(1800)  # 4m20s at load ~12 with the fp32 cache warm; a cold cache adds 1-5 min
def test_fine_tuned_model_learns_a_fact_the_base_does_not_know(server, data_dir):
    zhipu = ZhipuAI(api_key=server.tenant.api_key, base_url=server.zhipu_base, max_retries=0)
    assert FACT not in ask(zhipu, "glm-4")
    data = jsonl(
        [
            {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
            for q, a in DATASET
        ]
    )
    upload = zhipu.files.create(file=("zorblax.jsonl", data), purpose="fine-tune")
    job = zhipu.fine_tuning.jobs.create(
        model="glm-4",
        training_file=upload.id,
        suffix="zorblax",
        hyperparameters={"n_epochs": 4, "batch_size": 1, "learning_rate_multiplier": 10},
    )
    job = wait_done(zhipu, job.id)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model == f"ft:qwen2.5-coder-0.5b-instruct:zorblax:{job.id}"
    assert job.trained_tokens > 0
    losses = [
        e.data.loss
        for e in reversed(zhipu.fine_tuning.jobs.list_events(job.id, limit=100).data)
        if e.data and e.data.loss is not None
    ]
    assert len(losses) == 32 and losses[-1] < losses[0]

    assert FACT in ask(zhipu, job.fine_tuned_model)
    assert FACT not in ask(zhipu, "glm-4")  # the adapter is per request: the base is untouched
    oai = OpenAI(api_key=server.tenant.api_key, base_url=server.openai_base, max_retries=0)
    answer = oai.chat.completions.create(
        model=job.fine_tuned_model,
        temperature=0,
        max_tokens=24,
        messages=[{"role": "user", "content": QUESTION}],
    )
    assert FACT in answer.choices[0].message.content

    server.stop()  # restart on the same data dir: the model is in the registry and on disk
    again = start_live_server(real_settings(data_dir))
    try:
        client = ZhipuAI(api_key=server.tenant.api_key, base_url=again.zhipu_base, max_retries=0)
        assert FACT in ask(client, job.fine_tuned_model)
    finally:
        again.stop()
