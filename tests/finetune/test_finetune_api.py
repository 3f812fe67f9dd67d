"""The fine-tuning API in process (tiny real model): lifecycle, serving, tenancy, billing, bad input."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from openmaas.store.tables import AuditEntry, LedgerEntry, Reservation
from tests.finetune.conftest import (
    FACTS,
    OPENAI,
    broke_tenant,
    chat_example,
    fact_dataset,
    finetune_counts,
    jsonl,
    model_rows,
)
from tests.sdk._support import wait_for


def chat(ft, model: str, tenant=None, prefix: str = "/api/paas/v4"):
    return ft.call(
        "POST",
        "/chat/completions",
        tenant,
        prefix,
        json={"model": model, "messages": [{"role": "user", "content": FACTS[0][0]}]},
    )


def held_reservations(ft) -> int:
    with ft.services.db.session() as session:
        return session.scalar(sa.select(sa.func.count()).where(Reservation.state == "held"))


def metrics_steps(events: list[dict]) -> list[int]:
    return sorted(e["data"]["step"] for e in events if e["type"] == "metrics")


def test_job_trains_with_events_and_serves_its_model_to_its_account_only(ft_db):
    ft = ft_db
    train, valid = ft.upload(fact_dataset()), ft.upload(fact_dataset(1), filename="valid.jsonl")
    created = ft.create(
        train,
        validation_file=valid,
        suffix="zorb",
        hyperparameters={"n_epochs": 2, "batch_size": 2, "learning_rate_multiplier": 5},
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["object"] == "fine_tuning.job" and body["status"] == "validating_files"
    assert body["hyperparameters"] == {"n_epochs": 2, "batch_size": 2, "learning_rate_multiplier": 5.0}

    job = ft.wait(body["id"])
    assert job["status"] == "succeeded", job["error"]
    name = job["fine_tuned_model"]
    assert name == f"ft:fake-chat:zorb:{job['id']}" and job["finished_at"] >= job["created_at"]
    events = ft.events(job["id"])
    metrics = [e for e in events if e["type"] == "metrics"]
    assert metrics_steps(events) == list(range(1, 9))  # 8 examples / batch 2 × 2 epochs
    assert all(m["data"]["loss"] > 0 and m["data"]["total_steps"] == 8 for m in metrics)
    assert [m["data"]["step"] for m in metrics if m["data"]["val_loss"] is not None] == [8, 4]
    assert job["trained_tokens"] == metrics[0]["data"]["trained_tokens"] > 0

    for prefix in ("/api/paas/v4", OPENAI):
        answer = chat(ft, name, prefix=prefix)
        assert answer.status_code == 200, answer.text
        assert answer.json()["model"] == name
    assert name in [m["id"] for m in ft.call("GET", "/models").json()["data"]]
    assert name not in [m["id"] for m in ft.call("GET", "/models", ft.other).json()["data"]]
    denied = chat(ft, name, ft.other)
    assert denied.status_code == 400 and denied.json()["error"]["code"] == "1211"
    assert ft.call("GET", f"/fine_tuning/jobs/{job['id']}", ft.other).status_code == 404
    assert ft.call("DELETE", f"/fine_tuning/fine_tuned_models/{name}", ft.other).status_code == 404


def test_training_tokens_are_charged_once_at_the_base_price(ft):
    job = ft.wait(ft.create(ft.upload(fact_dataset(1)), hyperparameters={"n_epochs": 2}).json()["id"])
    assert job["status"] == "succeeded"
    with ft.services.db.session() as session:
        charges = session.scalars(
            sa.select(LedgerEntry).where(
                LedgerEntry.request_id == f"{job['id']}:train", LedgerEntry.kind == "charge"
            )
        ).all()
        audits = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "tokens.charge")).all()
    assert -sum(c.pack_tokens or 0 for c in charges) == job["trained_tokens"]  # the grant pack pays
    assert [a.details["tokens"] for a in audits] == [job["trained_tokens"]]
    assert held_reservations(ft) == 0


def test_insufficient_funds_create_nothing(ft):
    broke = broke_tenant(ft.services)
    response = ft.create(ft.upload(fact_dataset(), broke), broke)
    assert response.status_code == 429 and response.json()["error"]["code"] == "1113"
    assert finetune_counts(ft.services) == (0, 0)


OVERSIZED = chat_example("word " * 300, "ok")


@pytest.mark.parametrize(
    ("data", "fields", "code", "needle"),
    [
        (jsonl([chat_example("a", "b"), b"{broken"]), {}, "1214", "line 2: not valid JSON"),
        (
            jsonl([{"messages": [{"role": "robot", "content": "a"}, {"role": "assistant", "content": "b"}]}]),
            {},
            "1214",
            "line 1: messages[0].role 'robot'",
        ),
        (b"", {}, "1214", "empty"),
        (
            jsonl([chat_example("a", "b"), chat_example("c", "d"), OVERSIZED]),
            {},
            "1214",
            "line 3: the example has",
        ),
        (fact_dataset(), {"model": "fake-frozen"}, "1212", "fine-tuning"),
        (fact_dataset(), {"model": "no-such-model"}, "1211", "no-such-model"),
        (fact_dataset(), {"model": "ft:fake-chat:x:ftjob-1"}, "1212", "fine-tuning"),
        (fact_dataset(), {"hyperparameters": {"n_epochs": 0}}, "1214", "n_epochs"),
        (fact_dataset(), {"hyperparameters": {"batch_size": "lots"}}, "1214", "batch_size"),
        (fact_dataset(), {"suffix": "no spaces allowed"}, "1214", "suffix"),
    ],
)
def test_bad_input_is_a_clear_400_and_leaves_nothing(ft, data, fields, code, needle):
    response = ft.create(ft.upload(data), **fields)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code and needle in error["message"], error
    assert finetune_counts(ft.services) == (0, 0) and held_reservations(ft) == 0


def test_training_file_must_exist_in_the_account_and_be_for_fine_tuning(ft):
    for file_id, needle in (
        (ft.upload(fact_dataset(), ft.other), "no file"),
        (ft.upload(fact_dataset(), purpose="batch"), "purpose is 'batch'"),
    ):
        response = ft.create(file_id)
        assert response.status_code == 400 and needle in response.json()["error"]["message"]
    bad_validation = ft.create(ft.upload(fact_dataset()), validation_file=ft.upload(b"nope\n"))
    assert "validation_file line 1" in bad_validation.json()["error"]["message"]
    assert finetune_counts(ft.services) == (0, 0)


def test_cancel_stops_training_within_seconds(ft):
    job_id = ft.create(ft.upload(fact_dataset()), hyperparameters={"n_epochs": 50}).json()["id"]
    wait_for(lambda: metrics_steps(ft.events(job_id)), timeout=60)
    cancelled_at = time.monotonic()
    cancelled = ft.call("POST", f"/fine_tuning/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    stopped = wait_for(lambda: [e for e in ft.events(job_id) if "Training stopped" in e["message"]], 30)
    assert time.monotonic() - cancelled_at < 10
    steps = metrics_steps(ft.events(job_id))
    assert f"after {steps[-1]} steps" in stopped[0]["message"] and len(steps) < 400
    time.sleep(1)
    assert metrics_steps(ft.events(job_id)) == steps
    again = ft.call("POST", f"/fine_tuning/jobs/{job_id}/cancel")
    assert again.status_code == 400 and again.json()["error"]["code"] == "1214"
    job = ft.wait(job_id)
    assert job["status"] == "cancelled" and job["fine_tuned_model"] is None and held_reservations(ft) == 0


def test_delete_job_and_delete_model(ft):
    job = ft.wait(ft.create(ft.upload(fact_dataset(1)), hyperparameters={"n_epochs": 1}).json()["id"])
    name = job["fine_tuned_model"]
    deleted = ft.call("DELETE", f"/fine_tuning/jobs/{job['id']}")
    assert deleted.status_code == 200 and deleted.json()["id"] == job["id"]
    assert ft.call("GET", f"/fine_tuning/jobs/{job['id']}").status_code == 404
    assert job["id"] not in [j["id"] for j in ft.call("GET", "/fine_tuning/jobs").json()["data"]]
    assert chat(ft, name).status_code == 200  # the model outlives its job

    base_engine = ft.services.catalog.resolve("glm-4").engine
    forgotten: list[str] = []
    base_engine.forget_adapter = lambda path: forgotten.append(str(path))  # what LlamaCppEngine offers
    adapter = model_rows(ft.services)[0].adapter_path
    assert Path(adapter).exists()
    gone = ft.call("DELETE", f"/fine_tuning/fine_tuned_models/{name}")
    assert gone.status_code == 200
    assert forgotten == [adapter] and not Path(adapter).exists()  # freed in the engine, files removed
    assert gone.json() | {"request_id": None} == {
        "request_id": None,
        "model_name": name,
        "delete_status": "deleted",
    }
    assert chat(ft, name).json()["error"]["code"] == "1211" and model_rows(ft.services) == []
    assert ft.call("DELETE", f"/fine_tuning/fine_tuned_models/{name}").status_code == 404


def test_deleting_a_queued_job_cancels_it(ft):
    first = ft.create(ft.upload(fact_dataset()), hyperparameters={"n_epochs": 50}).json()["id"]
    second = ft.create(ft.upload(fact_dataset(1))).json()["id"]  # waits for the one training slot
    assert ft.call("DELETE", f"/fine_tuning/jobs/{second}").json()["status"] == "cancelled"
    assert ft.call("POST", f"/fine_tuning/jobs/{first}/cancel").json()["status"] == "cancelled"
    wait_for(lambda: held_reservations(ft) == 0, timeout=60)  # the worker charges what it trained


def test_list_pages_newest_first_on_the_openai_surface(ft):
    file_id = ft.upload(fact_dataset(1))
    ids = [ft.create(file_id, prefix=OPENAI, hyperparameters={"n_epochs": 1}).json()["id"] for _ in range(3)]
    page = ft.call("GET", "/fine_tuning/jobs", prefix=OPENAI, params={"limit": 2}).json()
    assert [j["id"] for j in page["data"]] == ids[:0:-1] and page["has_more"] is True
    rest = ft.call("GET", "/fine_tuning/jobs", prefix=OPENAI, params={"limit": 2, "after": ids[1]}).json()
    assert [j["id"] for j in rest["data"]] == [ids[0]] and rest["has_more"] is False
    assert ft.call("GET", "/fine_tuning/jobs", ft.other).json()["data"] == []
    for job_id in ids:
        assert ft.wait(job_id)["status"] == "succeeded"
