"""The Batch API in process: lifecycle, files, per-line failures, price, cancel, tenancy."""

from __future__ import annotations

import time

import pytest

from tests.batch.conftest import (
    OPENAI,
    BatchHarness,
    cash_only_tenant,
    chat_line,
    jsonl,
    table_counts,
)

HELLO = [{"role": "user", "content": "price me"}]


# --- the lifecycle ----------------------------------------------------------------------
def test_batch_runs_to_completion_with_output_and_error_files(db_bh: BatchHarness):
    lines = [chat_line(f"r{i}", f"question {i}") for i in range(3)]
    lines.insert(1, chat_line("bad", temperature=5))  # Zhipu allows at most 1.0
    created = db_bh.submit(lines, auto_delete_input_file=True, metadata={"project": "demo"})
    assert created["status"] == "validating" and created["object"] == "batch"
    assert created["request_counts"] == {"total": 4, "completed": 0, "failed": 0}
    assert created["completion_window"] == "24h" and created["metadata"] == {"project": "demo"}

    batch = db_bh.wait(created["id"])
    assert batch["status"] == "completed"
    assert batch["request_counts"] == {"total": 4, "completed": 3, "failed": 1}
    assert batch["created_at"] <= batch["in_progress_at"] <= batch["finalizing_at"] <= batch["completed_at"]
    outputs = db_bh.content(batch["output_file_id"])
    assert [o["custom_id"] for o in outputs] == ["r0", "r1", "r2"]
    first = outputs[0]
    assert first["response"]["status_code"] == 200 and first["error"] is None
    assert first["response"]["body"]["choices"][0]["message"]["content"] == "Echo: question 0"
    assert first["id"].startswith("batch_req_")
    assert batch["usage"]["total_tokens"] == sum(
        o["response"]["body"]["usage"]["total_tokens"] for o in outputs
    )
    [error] = db_bh.content(batch["error_file_id"])
    assert error["custom_id"] == "bad" and error["response"]["status_code"] == 400
    assert error["response"]["body"]["error"]["code"] == "1214"
    assert "temperature" in error["response"]["body"]["error"]["message"]
    assert db_bh.call("GET", f"/files/{batch['input_file_id']}").status_code == 404  # auto-deleted
    assert db_bh.call("GET", f"/files/{batch['output_file_id']}").json()["purpose"] == "batch_output"
    assert table_counts(db_bh.services) == (1, 1, 0)  # result rows folded into the files


def test_openai_surface_lines_answer_in_openai_shape(bh: BatchHarness):
    url = "/v1/chat/completions"
    file_id = bh.upload(jsonl([chat_line("a", url=url), chat_line("b", url=url, n=3)]))
    response = bh.create(file_id, endpoint=url, prefix=OPENAI, completion_window="24h")
    assert response.status_code == 200, response.text
    batch = bh.wait(response.json()["id"])
    [ok] = bh.content(batch["output_file_id"])
    assert ok["response"]["body"]["object"] == "chat.completion"
    [failed] = bh.content(batch["error_file_id"])
    assert failed["custom_id"] == "b"
    assert failed["response"]["body"]["error"]["type"] == "invalid_request_error"
    assert bh.call("GET", f"/files/{file_id}").status_code == 200  # openai: kept by default


def test_embedding_lines(bh: BatchHarness):
    lines = [
        {
            "custom_id": f"e{i}",
            "method": "POST",
            "url": "/v4/embeddings",
            "body": {"model": "embedding-2", "input": f"text number {i}"},
        }
        for i in range(2)
    ]
    response = bh.create(bh.upload(jsonl(lines)), endpoint="/v1/embeddings")
    batch = bh.wait(response.json()["id"])
    assert batch["request_counts"]["completed"] == 2
    first = bh.content(batch["output_file_id"])[0]["response"]["body"]
    assert first["object"] == "list" and len(first["data"][0]["embedding"]) == 64


def test_unknown_model_fails_every_line_into_the_error_file(bh: BatchHarness):
    batch = bh.wait(bh.submit([chat_line("x", model="glm-nope"), chat_line("y", model="glm-nope")])["id"])
    assert batch["status"] == "completed" and batch["output_file_id"] is None
    assert batch["request_counts"] == {"total": 2, "completed": 0, "failed": 2}
    errors = bh.content(batch["error_file_id"])
    assert {e["response"]["body"]["error"]["code"] for e in errors} == {"1211"}


def test_lines_without_funds_fail_with_1113(bh: BatchHarness):
    broke = cash_only_tenant(bh.services)
    batch = bh.wait(bh.submit([chat_line("a"), chat_line("b")], tenant=broke)["id"], tenant=broke)
    assert batch["request_counts"]["failed"] == 2
    errors = bh.content(batch["error_file_id"], tenant=broke)
    assert [e["response"]["status_code"] for e in errors] == [429, 429]
    assert errors[0]["error"]["code"] == "1113"


# --- the price --------------------------------------------------------------------------
def test_a_batch_line_costs_half_the_synchronous_request(bh: BatchHarness):
    payer = cash_only_tenant(bh.services, micro=1_000_000)
    sync = bh.client.post(
        "/api/paas/v4/chat/completions", headers=payer.headers, json={"model": "glm-4", "messages": HELLO}
    )
    assert sync.status_code == 200, sync.text
    line = {
        "custom_id": "p",
        "method": "POST",
        "url": "/v4/chat/completions",
        "body": {"model": "glm-4", "messages": HELLO},
    }
    batch = bh.wait(bh.submit([line], tenant=payer)["id"], tenant=payer)
    assert batch["request_counts"]["completed"] == 1
    [direct] = bh.usage(account_id=payer.account_id, endpoint="chat")
    [batched] = bh.usage(account_id=payer.account_id, endpoint="batch")
    assert (batched.prompt_tokens, batched.completion_tokens) == (
        direct.prompt_tokens,
        direct.completion_tokens,
    )
    assert direct.cost_micro > 0 and batched.cost_micro * 2 == direct.cost_micro
    spent = 1_000_000 - bh.services.billing.balance(payer.account_id).cash_micro
    assert spent == direct.cost_micro + batched.cost_micro
    assert bh.services.billing.reconcile(payer.account_id) == []


# --- cancel -----------------------------------------------------------------------------
def test_cancel_stops_between_lines_and_keeps_finished_ones(db_bh: BatchHarness):
    db_bh.fake_engine().token_delay = 0.04  # ~0.2 s a line
    batch = db_bh.submit([chat_line(f"r{i}", f"slow question {i}") for i in range(30)])
    db_bh.wait(batch["id"], until=("in_progress",))
    while db_bh.call("GET", f"/batches/{batch['id']}").json()["request_counts"]["completed"] < 2:
        time.sleep(0.02)
    asked = time.monotonic()
    cancelling = db_bh.call("POST", f"/batches/{batch['id']}/cancel").json()
    assert cancelling["status"] == "cancelling" and cancelling["cancelling_at"]
    done = db_bh.wait(batch["id"], timeout=5)
    assert done["status"] == "cancelled" and time.monotonic() - asked < 2.0
    counts = done["request_counts"]
    assert 2 <= counts["completed"] < 30 and counts["failed"] == 0
    outputs = db_bh.content(done["output_file_id"])
    assert [o["custom_id"] for o in outputs] == [f"r{i}" for i in range(counts["completed"])]
    again = db_bh.call("POST", f"/batches/{batch['id']}/cancel")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


def test_a_finished_batch_cannot_be_cancelled(bh: BatchHarness):
    batch = bh.wait(bh.submit([chat_line("a")])["id"])
    response = bh.call("POST", f"/batches/{batch['id']}/cancel")
    assert response.status_code == 400 and response.json()["error"]["code"] == "1214"


# --- listing ----------------------------------------------------------------------------
def test_list_pages_with_after_and_ends_with_empty_data(bh: BatchHarness):
    file_id = bh.upload(jsonl([chat_line("a")]))
    ids = [bh.create(file_id).json()["id"] for _ in range(5)]
    seen, after, pages = [], None, 0
    while True:
        query = {"limit": 2} | ({"after": after} if after else {})
        page = bh.call("GET", "/batches", params=query).json()
        pages += 1
        if not page["data"]:
            assert page["has_more"] is False
            break
        seen += [b["id"] for b in page["data"]]
        assert page["has_more"] == (len(seen) < 5)
        after = page["data"][-1]["id"]
    assert seen == ids[::-1] and pages == 4
    assert bh.call("GET", "/batches", params={"limit": 0}).json()["error"]["code"] == "1214"
    assert bh.call("GET", "/batches", params={"after": "batch_nope"}).status_code == 400


# --- tenancy ----------------------------------------------------------------------------
def test_another_account_sees_nothing(db_bh: BatchHarness):
    batch = db_bh.wait(db_bh.submit([chat_line("a")])["id"])
    other = db_bh.other
    for method, path in (
        ("GET", f"/batches/{batch['id']}"),
        ("POST", f"/batches/{batch['id']}/cancel"),
        ("GET", f"/files/{batch['output_file_id']}/content"),
        ("GET", f"/files/{batch['output_file_id']}"),
    ):
        response = db_bh.call(method, path, other)
        assert response.status_code == 404, (path, response.text)
    assert db_bh.call("GET", "/batches", other).json()["data"] == []
    stolen = db_bh.create(batch["input_file_id"], tenant=other)
    assert stolen.status_code == 400 and "input_file_id" in stolen.json()["error"]["message"]
    assert table_counts(db_bh.services)[0] == 1


def test_openai_surface_errors_use_the_openai_envelope(bh: BatchHarness):
    response = bh.call("GET", "/batches/batch_missing", prefix=OPENAI)
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("surface", ["/api/paas/v4", "/v1"])
def test_batches_need_a_key(bh: BatchHarness, surface: str):
    assert bh.client.get(f"{surface}/batches").status_code == 401
