"""The job handler driven by hand (no worker): expiry, a deleted input, takeover, gave-up jobs,
lines running several at a time and a resume that skips lines recorded ahead of the cursor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from openmaas.api.batch_lines import batch_job_handlers
from openmaas.batch.progress import TakenOver
from openmaas.batch.runner import LINE_CONCURRENCY, LineCursor
from openmaas.batch.types import KIND
from openmaas.jobs.owners import JobOwners
from openmaas.jobs.queue import MAX_ATTEMPTS
from openmaas.store.tables import Batch, Job, utcnow
from tests.batch.conftest import BatchHarness, batch_harness, chat_line


@pytest.fixture
def idle_bh(make_settings) -> Iterator[BatchHarness]:
    """No worker in the process: the test runs the handler itself."""
    yield from batch_harness(make_settings(run_jobs_in_process=False))


def run_handler(bh: BatchHarness, batch_id: str) -> dict:
    with bh.services.db.session() as session:  # claimed, as a worker would (writes are fenced by it)
        session.execute(
            sa.update(Job)
            .where(Job.id == batch_id)
            .values(state="running", attempts=Job.attempts + 1, lease_until=utcnow() + timedelta(seconds=60))
        )
    with bh.services.db.session() as session:
        job = session.get(Job, batch_id)
    handler = batch_job_handlers(bh.services)[KIND]
    return bh.client.portal.call(handler, job, JobOwners(bh.services.db).principal(job))


def set_batch(bh: BatchHarness, batch_id: str, **values) -> None:
    with bh.services.db.session() as session:
        session.execute(sa.update(Batch).where(Batch.id == batch_id).values(**values))


def test_a_batch_past_its_window_expires_keeping_what_finished(idle_bh: BatchHarness):
    batch = idle_bh.submit([chat_line("a"), chat_line("b")])
    set_batch(
        idle_bh, batch["id"], status="in_progress", next_index=0, expires_at=utcnow() - timedelta(seconds=1)
    )
    assert run_handler(idle_bh, batch["id"]) == {"status": "expired"}
    done = idle_bh.call("GET", f"/batches/{batch['id']}").json()
    assert done["status"] == "expired" and done["expired_at"]
    assert done["request_counts"]["completed"] == 0 and done["output_file_id"] is None


def test_an_input_deleted_mid_run_fails_the_batch(idle_bh: BatchHarness):
    batch = idle_bh.submit([chat_line("a")])
    assert idle_bh.call("DELETE", f"/files/{batch['input_file_id']}").status_code == 200
    assert run_handler(idle_bh, batch["id"]) == {"status": "failed"}
    done = idle_bh.call("GET", f"/batches/{batch['id']}").json()
    assert done["status"] == "failed" and done["failed_at"]
    assert "input file" in done["errors"]["data"][0]["message"]


def test_a_cancel_before_the_job_ran_ends_cancelled(idle_bh: BatchHarness):
    batch = idle_bh.submit([chat_line("a")])
    assert idle_bh.call("POST", f"/batches/{batch['id']}/cancel").json()["status"] == "cancelling"
    assert run_handler(idle_bh, batch["id"]) == {"status": "cancelled"}
    assert idle_bh.fake_engine().generations == 0
    assert run_handler(idle_bh, batch["id"]) == {"status": "done"}  # terminal: nothing to do


def test_a_line_recorded_twice_means_another_worker_took_over(idle_bh: BatchHarness):
    batch_id = idle_bh.submit([chat_line("a")])["id"]
    progress = idle_bh.services.batches.progress
    assert progress.record(batch_id, 0, True, "{}", 1, 1, next_index=1) == "validating"
    with pytest.raises(TakenOver):
        progress.record(batch_id, 0, True, "{}", 1, 1, next_index=1)
    assert idle_bh.call("GET", f"/batches/{batch_id}").json()["request_counts"]["completed"] == 1


def test_a_job_the_queue_gave_up_on_shows_as_failed(idle_bh: BatchHarness):
    batch_id = idle_bh.submit([chat_line("a")])["id"]
    with idle_bh.services.db.session() as session:  # three workers died holding it
        session.execute(
            sa.update(Job)
            .where(Job.id == batch_id)
            .values(state="running", attempts=MAX_ATTEMPTS, lease_until=utcnow() - timedelta(seconds=5))
        )
    assert idle_bh.services.jobs.claim([KIND]) is None  # gives up, and the batch's hook fails it
    listed = idle_bh.call("GET", "/batches").json()["data"][0]
    assert listed["status"] == "failed"
    assert listed["errors"]["data"][0]["code"] == "1230"


def test_the_cursor_stops_at_the_first_line_not_yet_recorded():
    cursor = LineCursor(3, recorded={5})
    assert cursor.next_index == 3 and cursor.recorded(2) and cursor.recorded(5)
    assert not cursor.recorded(4)
    assert cursor.finish(4) == 3  # 3 still running
    assert cursor.finish(3) == 6  # 3, 4 and 5 done
    assert LineCursor(0, recorded={0, 1}).next_index == 2


def count_concurrent_generations(engine) -> dict:
    """Wraps the fake engine's generate to record how many generations overlap."""
    seen = {"running": 0, "peak": 0}
    original = engine.generate

    async def counting(*args, **kwargs):
        seen["running"] += 1
        seen["peak"] = max(seen["peak"], seen["running"])
        try:
            async for event in original(*args, **kwargs):
                yield event
        finally:
            seen["running"] -= 1

    engine.generate = counting
    return seen


def test_lines_run_several_at_a_time_and_come_out_in_input_order(idle_bh: BatchHarness):
    engine = idle_bh.fake_engine()
    engine.token_delay = 0.01
    seen = count_concurrent_generations(engine)
    batch = idle_bh.submit([chat_line(f"r{i}", f"question {i}" + " more" * (i % 3)) for i in range(10)])
    assert run_handler(idle_bh, batch["id"]) == {"status": "completed"}
    assert seen["peak"] == LINE_CONCURRENCY
    done = idle_bh.call("GET", f"/batches/{batch['id']}").json()
    assert done["request_counts"] == {"total": 10, "completed": 10, "failed": 0}
    lines = idle_bh.content(done["output_file_id"])
    assert [line["custom_id"] for line in lines] == [f"r{i}" for i in range(10)]


def test_a_resume_skips_lines_recorded_ahead_of_the_cursor(idle_bh: BatchHarness):
    batch_id = idle_bh.submit([chat_line(f"r{i}") for i in range(6)])["id"]
    set_batch(idle_bh, batch_id, status="in_progress", next_index=1)
    progress = idle_bh.services.batches.progress
    progress.record(batch_id, 0, True, '{"custom_id": "r0", "earlier": true}', 0, 0, next_index=1)
    progress.record(batch_id, 3, True, '{"custom_id": "r3", "earlier": true}', 0, 0, next_index=1)
    assert run_handler(idle_bh, batch_id) == {"status": "completed"}
    assert idle_bh.fake_engine().generations == 4  # lines 1, 2, 4, 5
    done = idle_bh.call("GET", f"/batches/{batch_id}").json()
    lines = idle_bh.content(done["output_file_id"])
    assert [line["custom_id"] for line in lines] == [f"r{i}" for i in range(6)]
    assert [line.get("earlier", False) for line in lines] == [True, False, False, True, False, False]
