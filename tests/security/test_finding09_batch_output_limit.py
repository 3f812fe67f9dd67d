"""Finding 9 (security review 2026-12): a batch whose output outgrew the `batch_output`
file limit failed at finalisation after every line had been billed, and its results
were deleted.

Now the runner tracks the output's size as lines complete: once it is full, the remaining
lines are not run (nor charged) and go to the error file; the batch completes with the
output it has."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openmaas.files.settings import FilesSettings
from tests.batch.conftest import BatchHarness, batch_harness, chat_line

OUTPUT_LIMIT = 1500


@pytest.fixture
def small_output_bh(make_settings, database_url) -> Iterator[BatchHarness]:
    settings = make_settings(
        database_url=database_url,
        batch_line_concurrency=1,
        files=FilesSettings(max_bytes_by_purpose={"batch_output": OUTPUT_LIMIT}),
    )
    yield from batch_harness(settings)


def test_a_full_output_stops_running_lines_instead_of_failing_the_batch(small_output_bh):
    bh = small_output_bh
    created = bh.submit([chat_line(f"r{i}", f"question {i}") for i in range(12)])
    batch = bh.wait(created["id"], timeout=30)
    assert batch["status"] == "completed", batch
    outputs = bh.content(batch["output_file_id"])
    errors = bh.content(batch["error_file_id"])
    assert 0 < len(outputs) < 12 and len(outputs) + len(errors) == 12
    assert {e["response"]["body"]["error"]["code"] for e in errors} == {"1210"}
    assert batch["request_counts"] == {"total": 12, "completed": len(outputs), "failed": len(errors)}
    charged = bh.usage(account_id=bh.tenant.account_id, endpoint="batch")
    assert len(charged) == len(outputs)  # lines that were not run were not billed
