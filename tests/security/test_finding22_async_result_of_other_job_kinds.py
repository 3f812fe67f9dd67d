"""Finding 22 (security review 2026-12): `GET /async-result/{id}` with the id of one's own
job of another kind (a batch, an ingestion) raised KeyError on `payload["model"]`: HTTP 500.
It is not an async chat task: 404, code 1222."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.batch.conftest import BatchHarness, batch_harness, chat_line


@pytest.fixture
def idle_bh(make_settings) -> Iterator[BatchHarness]:
    yield from batch_harness(make_settings(run_jobs_in_process=False))


def test_a_batch_id_is_not_an_async_task(idle_bh):
    batch = idle_bh.submit([chat_line("a")])
    answer = idle_bh.call("GET", f"/async-result/{batch['id']}")
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["code"] == "1222"
