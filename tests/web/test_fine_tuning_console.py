"""The fine-tuning page in headless Chromium: upload a dataset → create a job → its events and
loss curve appear as the real trainer (transformers + peft) runs → open the result in the
playground. Training runs on the tiny Qwen2 of tests/finetune (seconds on 2 cores) behind
the fake chat engine; the 0.5B GGUF → LoRA → llama.cpp path is tests/finetune/test_real_e2e.py."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from openmaas.config import AccountsConfig, Settings
from tests.accounts.conftest import install_recorder
from tests.conftest import fake_embeddings, start_live_server, with_fake_prices
from tests.finetune.conftest import build_tiny_qwen2, fact_dataset, tiny_models
from tests.web.conftest import Console
from tests.web.test_money_console import account_id_of, assert_page_agrees_with_ledger

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ft_console(tmp_path_factory, browser) -> Iterator[Console]:
    data = tmp_path_factory.mktemp("console-ft")
    tiny = build_tiny_qwen2(data / "tiny-qwen2")
    settings = with_fake_prices(
        Settings(
            environment="test",
            data_dir=data,
            database_url=f"sqlite:///{data}/db.sqlite",
            models=tiny_models(tiny),
            embeddings=fake_embeddings(),
            job_poll_seconds=0.05,
            secret_key="test-secret",
            accounts=AccountsConfig(cookie_secure=False, password_hash_profile="CHEAPEST"),
        )
    )
    server = start_live_server(settings)
    console = Console(server, install_recorder(server.services), browser)
    yield console
    server.stop()


def test_fine_tune_job_shows_events_and_loss_then_opens_in_the_playground(ft_console: Console):
    console = ft_console
    with console.context() as context:
        page = console.signed_in_page(context, "tuner@example.com", "Tuner")
        page.click("nav >> text=模型微调")
        page.set_input_files(
            "[data-testid=dataset-input]",
            files=[
                {"name": "bad.jsonl", "mimeType": "application/jsonl", "buffer": b'{"messages": "nope"}\n'}
            ],
        )
        page.click("#dataset-form [type=submit]")
        expect(page.locator("[data-testid=training-file] option")).to_have_count(1)
        page.click("#job-form [type=submit]")  # the dataset is checked before a job exists
        expect(page.locator("#toast")).to_contain_text("line 1")
        expect(page.locator("[data-testid=job-table] tbody")).to_contain_text("还没有微调任务")

        page.set_input_files(
            "[data-testid=dataset-input]",
            files=[{"name": "zorblax.jsonl", "mimeType": "application/jsonl", "buffer": fact_dataset()}],
        )
        page.click("#dataset-form [type=submit]")
        expect(page.locator("[data-testid=dataset-progress]")).to_contain_text("zorblax.jsonl 已上传")
        expect(page.locator("[data-testid=training-file]")).to_contain_text("zorblax.jsonl")
        page.fill("#job-form [name=n_epochs]", "3")
        page.fill("#job-form [name=suffix]", "zorblax")
        page.click("#job-form [type=submit]")
        events = page.locator("[data-testid=events]")
        expect(events).to_contain_text("Created fine-tuning job")  # events appear at once
        expect(events).to_contain_text("training loss=", timeout=60_000)
        expect(page.locator("#loss-empty")).to_be_hidden()  # the loss chart has points
        expect(page.locator("[data-testid=job-status]")).to_have_text("已完成", timeout=90_000)
        console.shot(page, "13-fine-tuning-succeeded")
        model = page.locator("[data-testid=job-table] tbody code").first.inner_text()
        assert re.match(r"^ft:fake-chat:zorblax:ftjob-", model)  # base name, suffix, job
        job_id = page.locator("[data-testid=job-table] tbody tr").first.get_attribute("data-job-id")
        # the training charge: transactions, who paid, the bill and the ledger agree to the µ元
        by_kind = assert_page_agrees_with_ledger(console, page, account_id_of(console, "tuner@example.com"))
        assert "charge" in by_kind, by_kind
        page.goto(console.url(f"/console/fine-tuning?job={job_id}"))
        page.click("[data-testid=open-playground]")
        expect(page.locator("#model")).to_have_value(model)
        console.server.services.catalog.resolve("glm-4").engine.enqueue("The capital of Zorblax is Quenvale.")
        page.fill("#prompt", "What is the capital of Zorblax?")
        page.click("#send")
        expect(page.locator("#messages")).to_have_attribute("data-state", "done")
        expect(page.locator(".msg.assistant .body")).to_have_text("The capital of Zorblax is Quenvale.")
        assert f'"model": "{model}"' in page.locator("#raw-request").text_content()
        console.shot(page, "14-playground-fine-tuned-model")
