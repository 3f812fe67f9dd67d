"""A batch survives a restart: the reclaimed job continues after the last recorded line."""

from __future__ import annotations

import time

import httpx
import sqlalchemy as sa

from openmaas.store.tables import Batch, BatchResult, Job
from tests.batch.conftest import ZHIPU, chat_line, jsonl, parse_jsonl
from tests.conftest import LiveServer, Tenant, start_live_server

TOTAL = 12


def read_batch(server: LiveServer, batch_id: str) -> Batch:
    with server.services.db.session() as session:
        return session.get(Batch, batch_id)


def submit(server: LiveServer) -> str:
    headers = server.tenant.headers
    lines = [chat_line(f"r{i}", f"question number {i}") for i in range(TOTAL)]
    upload = httpx.post(
        f"{server.zhipu_base}/files",
        headers=headers,
        files={"file": ("in.jsonl", jsonl(lines))},
        data={"purpose": "batch"},
    )
    created = httpx.post(
        f"{server.zhipu_base}/batches",
        headers=headers,
        json={
            "input_file_id": upload.json()["id"],
            "endpoint": "/v4/chat/completions",
            "completion_window": None,
            "auto_delete_input_file": True,
        },
    )
    assert created.status_code == 200, created.text
    return created.json()["id"]


def wait_status(server: LiveServer, tenant: Tenant, batch_id: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        batch = httpx.get(f"{server.base_url}{ZHIPU}/batches/{batch_id}", headers=tenant.headers).json()
        if batch["status"] == "completed":
            return batch
        assert time.monotonic() < deadline, batch
        time.sleep(0.05)


def test_restart_mid_batch_resumes_without_redoing_lines(make_settings, database_url):
    # a 2 s job lease (heartbeat every 0.67 s): with 1 s, a heartbeat late by 0.67 s on a loaded
    # 2-core CI machine let the job be claimed a third time
    settings = make_settings(database_url=database_url, job_lease_seconds=2.0)
    first = start_live_server(settings)
    first.services.catalog.resolve("fake-chat").engine.token_delay = 0.05
    batch_id = submit(first)
    while read_batch(first, batch_id).next_index < 3:
        time.sleep(0.02)
    first.stop()  # mid-line: the in-flight lines are cancelled, the job's lease lapses
    done_before = read_batch(first, batch_id).next_index
    with first.services.db.session() as session:  # lines finish out of order: some may be
        recorded = set(
            session.scalars(  # recorded after the cursor
                sa.select(BatchResult.position).where(BatchResult.batch_id == batch_id)
            )
        )
    first.services.db.dispose()  # the reads above reopened the stopped server's pool
    assert 3 <= done_before < TOTAL
    assert set(range(done_before)) <= recorded and done_before not in recorded

    second = start_live_server(settings)
    try:
        batch = wait_status(second, first.tenant, batch_id)
        engine = second.services.catalog.resolve("fake-chat").engine
        assert engine.generations == TOTAL - len(recorded)  # finished lines were not run again
        assert batch["request_counts"] == {"total": TOTAL, "completed": TOTAL, "failed": 0}
        output = httpx.get(
            f"{second.zhipu_base}/files/{batch['output_file_id']}/content", headers=first.tenant.headers
        )
        lines = parse_jsonl(output.content)
        assert [line["custom_id"] for line in lines] == [f"r{i}" for i in range(TOTAL)]
        assert [line["response"]["body"]["choices"][0]["message"]["content"] for line in lines] == [
            f"Echo: question number {i}" for i in range(TOTAL)
        ]
        with second.services.db.session() as session:
            job = session.get(Job, batch_id)
            assert (job.state, job.attempts) == ("succeeded", 2)
            assert session.scalar(sa.select(sa.func.count()).select_from(Batch)) == 1
    finally:
        second.stop()


def test_lines_resumed_after_a_crash_are_charged_once(make_settings, database_url):
    """Each line is metered under `<batch>-<position>`: a line the first run charged but did
    not record runs again free; one it released uncharged holds anew (`:retry1`)."""
    from openmaas.store.tables import Reservation

    settings = make_settings(database_url=database_url, job_lease_seconds=2.0)
    first = start_live_server(settings)
    first.services.catalog.resolve("fake-chat").engine.token_delay = 0.05
    batch_id = submit(first)
    while read_batch(first, batch_id).next_index < 3:
        time.sleep(0.02)
    first.stop()
    billing, account = first.services.billing, first.tenant.account_id
    with first.services.db.session() as session:
        recorded = set(
            session.scalars(sa.select(BatchResult.position).where(BatchResult.batch_id == batch_id))
        )
        held = set(
            session.scalars(sa.select(Reservation.request_id).where(Reservation.account_id == account))
        )
    charged_unrecorded = max(p for p in range(TOTAL) if f"{batch_id}-{p}" not in held and p not in recorded)
    hold = billing.reserve(
        account,
        None,
        f"{batch_id}-{charged_unrecorded}",
        "glm-4",
        "fake-chat",
        10,
        20,
        False,
        price_percent=50,
    )
    with first.services.db.session() as session:  # the first run charged it, then died
        billing.settle(session, hold.reservation_id, 10, 5)
    first.services.db.dispose()

    second = start_live_server(settings)
    try:
        batch = wait_status(second, first.tenant, batch_id)
        assert batch["request_counts"] == {"total": TOTAL, "completed": TOTAL, "failed": 0}
        assert second.services.catalog.resolve("fake-chat").engine.generations == TOTAL - len(recorded)
    finally:
        second.stop()  # usage rows are written in the background: stopping flushes the last ones
    with second.services.db.session() as session:
        rows = session.execute(
            sa.select(Reservation.request_id, Reservation.state).where(Reservation.account_id == account)
        ).all()
    assert second.services.billing.reconcile(account) == []
    second.services.db.dispose()
    settled = [rid.split(":")[0] for rid, state in rows if state == "settled"]
    assert sorted(settled) == sorted(f"{batch_id}-{p}" for p in range(TOTAL))  # each line once
    assert not [rid for rid, state in rows if state == "held"]
