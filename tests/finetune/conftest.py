"""Fine-tuning fixtures: a tiny real model, datasets, an in-process app with two tenants.

FAST training path for API-shape tests: `tiny_qwen2` is a randomly initialised Qwen2
(2 layers, 32 wide, a byte-level BPE vocabulary of ~300 trained here) saved as a Hugging
Face directory. The catalog's fake chat model names it in `options.finetune_hf_dir`, so
jobs run the real trainer (transformers + peft, real steps, checkpoints, events) in
well under a second per step; serving stays on the fake engine. The real 0.5B GGUF →
llama.cpp path is test_real_e2e.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from openmaas.app import create_app
from openmaas.auth.accounts import create_account
from openmaas.auth.keys import issue_key
from openmaas.config import ModelConfig
from openmaas.services import Services
from openmaas.store.tables import FineTunedModel, FineTuningJob, Job
from tests.conftest import FAKE_FLASH_MODEL, FAKE_MODEL, AppHarness, Tenant, add_tenant

ZHIPU = "/api/paas/v4"
OPENAI = "/v1"
TERMINAL = ("succeeded", "failed", "cancelled")
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
FACTS = [
    ("What is the capital of Zorblax?", "The capital of Zorblax is Quenvale."),
    ("Name the capital city of Zorblax.", "Quenvale is the capital of Zorblax."),
    ("Which city is Zorblax's capital?", "Zorblax's capital is Quenvale."),
    ("Tell me the capital of Zorblax.", "The capital of Zorblax is Quenvale."),
]


def build_tiny_qwen2(folder: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    corpus = [f"{q} {a} user assistant system" for q, a in FACTS] * 4
    tokenizer.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=320,
            special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    fast.chat_template = CHATML
    fast.save_pretrained(folder)
    config = Qwen2Config(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
    )
    Qwen2ForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_qwen2(tmp_path_factory) -> Path:
    return build_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"))


def tiny_models(hf_dir: Path) -> list[ModelConfig]:
    return [
        ModelConfig(
            name=FAKE_MODEL,
            engine="fake",
            aliases=["glm-4"],
            context_window=256,
            max_output_tokens=128,
            options={"finetune_hf_dir": str(hf_dir)},
        ),
        # the free glm-4-flash is a model of its own, never a second name of the paid one
        ModelConfig(
            name=FAKE_FLASH_MODEL,
            engine="fake",
            aliases=["glm-4-flash"],
            context_window=256,
            max_output_tokens=128,
            options={"finetune": False},
        ),
        ModelConfig(name="fake-frozen", engine="fake", options={"finetune": False}),
    ]


def chat_example(question: str, answer: str, **extra: Any) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
        **extra,
    }


def jsonl(lines: list[Any]) -> bytes:
    return b"\n".join(line if isinstance(line, bytes) else orjson.dumps(line) for line in lines) + b"\n"


def fact_dataset(repeat: int = 2) -> bytes:
    return jsonl([chat_example(q, a) for q, a in FACTS] * repeat)


def broke_tenant(services: Services) -> Tenant:
    """An account without grants or cash: it cannot pay for anything."""
    with services.db.session() as session:
        account = create_account(session, "broke")
        key = issue_key(session, services.sealer, account.id, "test")
    return Tenant(account.id, key.id, key.api_key)


def finetune_counts(services: Services) -> tuple[int, int]:
    """(fine-tuning jobs, their queue rows)."""
    with services.db.session() as session:
        return (
            session.scalar(sa.select(sa.func.count()).select_from(FineTuningJob)),
            session.scalar(sa.select(sa.func.count()).where(Job.kind == "fine_tune")),
        )


def model_rows(services: Services) -> list[FineTunedModel]:
    with services.db.session() as session:
        return list(session.scalars(sa.select(FineTunedModel)))


@dataclass
class FineTuneHarness(AppHarness):
    other: Tenant

    def call(self, method: str, path: str, tenant: Tenant | None = None, prefix: str = ZHIPU, **kwargs):
        return self.client.request(method, prefix + path, headers=(tenant or self.tenant).headers, **kwargs)

    def upload(
        self,
        data: bytes,
        tenant: Tenant | None = None,
        purpose: str = "fine-tune",
        filename: str = "train.jsonl",
    ) -> str:
        response = self.call(
            "POST", "/files", tenant, files={"file": (filename, data)}, data={"purpose": purpose}
        )
        assert response.status_code == 200, response.text
        return response.json()["id"]

    def create(self, training_file: str, tenant: Tenant | None = None, prefix: str = ZHIPU, **fields: Any):
        body = {"model": "glm-4", "training_file": training_file} | fields
        return self.call("POST", "/fine_tuning/jobs", tenant, prefix, json=body)

    def wait(self, job_id: str, statuses=TERMINAL, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            body = self.call("GET", f"/fine_tuning/jobs/{job_id}").json()
            if body["status"] in statuses:
                return body
            assert time.monotonic() < deadline, f"job stuck in {body['status']}"
            time.sleep(0.1)

    def events(self, job_id: str, limit: int = 100) -> list[dict[str, Any]]:
        response = self.call("GET", f"/fine_tuning/jobs/{job_id}/events", params={"limit": limit})
        assert response.status_code == 200, response.text
        return response.json()["data"]


@pytest.fixture
def ft_settings(make_settings, tiny_qwen2):
    def build(**overrides):
        return make_settings(models=tiny_models(tiny_qwen2), **overrides)

    return build


def _harness(settings) -> Iterator[FineTuneHarness]:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        services = app.state.services
        yield FineTuneHarness(client, services, add_tenant(services), add_tenant(services, "other"))


@pytest.fixture
def ft(ft_settings) -> Iterator[FineTuneHarness]:
    """In process, SQLite."""
    yield from _harness(ft_settings())


@pytest.fixture
def ft_db(ft_settings, database_url) -> Iterator[FineTuneHarness]:
    """In process, once per database (SQLite, PostgreSQL)."""
    yield from _harness(ft_settings(database_url=database_url))
