"""Bad batch input: a 400 with code 1214 naming the field (and the line), nothing stored."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from openmaas.batch.types import MAX_REQUESTS
from tests.batch.conftest import BatchHarness, chat_line, jsonl, table_counts

GOOD = chat_line("r1")


def with_field(**changes: Any) -> dict[str, Any]:
    line = chat_line("r2")
    for key, value in changes.items():
        if value is None:
            line.pop(key)
        else:
            line[key] = value
    return line


BAD_FILES = {
    "not json": ([GOOD, b"{not json"], "input_file_id", 2),
    "not an object": ([GOOD, b"[1, 2]"], "input_file_id", 2),
    "missing custom_id": ([GOOD, with_field(custom_id=None)], "custom_id", 2),
    "empty custom_id": ([GOOD, with_field(custom_id=" ")], "custom_id", 2),
    "duplicate custom_id": ([GOOD, b"", chat_line("r1")], "custom_id", 3),
    "method GET": ([GOOD, with_field(method="GET")], "method", 2),
    "unknown url": ([with_field(url="/v4/images/generations")], "url", 1),
    "url of the other kind": ([GOOD, with_field(url="/v4/embeddings")], "url", 2),
    "body not an object": ([GOOD, with_field(body="hi")], "body", 2),
    "body without model": ([GOOD, with_field(body={"messages": []})], "body.model", 2),
    "two models": ([GOOD, chat_line("r2", model="glm-4-flash")], "body.model", 2),
    "not utf-8": ([GOOD, b'{"custom_id": "\xff"}'], "input_file_id", 2),
}


def assert_rejected(bh: BatchHarness, response, field: str, line: int | None = None) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "1214", error
    assert f"invalid {field}" in error["message"], error
    if line is not None:
        assert f"line {line}:" in error["message"], error
    assert table_counts(bh.services) == (0, 0, 0)


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_is_rejected_naming_field_and_line(module_bh: BatchHarness, case: str):
    lines, field, line = BAD_FILES[case]
    assert_rejected(module_bh, module_bh.create(module_bh.upload(jsonl(lines))), field, line)


def test_bad_requests_leave_no_row_on_either_database(db_bh: BatchHarness):
    good = db_bh.upload(jsonl([GOOD]))
    assert_rejected(db_bh, db_bh.create(db_bh.upload(jsonl([GOOD, GOOD]))), "custom_id", 2)
    assert_rejected(db_bh, db_bh.create(good, endpoint="/v4/images/generations"), "endpoint")
    assert_rejected(db_bh, db_bh.create(good, metadata={f"k{i}": "v" for i in range(17)}), "metadata")
    assert db_bh.create(good, metadata={f"k{i}": "v" for i in range(16)}).status_code == 200
    assert table_counts(db_bh.services)[:2] == (1, 1)


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"endpoint": "/v4/images/generations"}, "endpoint"),
        ({"completion_window": "2d"}, "completion_window"),
        ({"completion_window": "999h"}, "completion_window"),
        ({"metadata": {"k": "v" * 513}}, "metadata.k"),
        ({"metadata": {"k" * 65: "v"}}, "metadata"),
        ({"metadata": {"k": 1}}, "metadata.k"),
        ({"input_file_id": "file-missing"}, "input_file_id"),
    ],
)
def test_bad_create_fields(module_bh: BatchHarness, fields: dict, field: str):
    file_id = module_bh.upload(jsonl([GOOD]))
    body = {"input_file_id": file_id, "endpoint": "/v4/chat/completions"} | fields
    assert_rejected(module_bh, module_bh.call("POST", "/batches", json=body), field)


def test_input_must_have_purpose_batch_and_requests(module_bh: BatchHarness):
    fine_tune = module_bh.upload(jsonl([GOOD]), purpose="fine-tune")
    assert_rejected(module_bh, module_bh.create(fine_tune), "input_file_id")
    assert_rejected(module_bh, module_bh.create(module_bh.upload(b"\n\n")), "input_file_id")


def test_at_most_50000_requests(module_bh: BatchHarness):
    line = orjson.dumps(chat_line("r", text="x"))
    over = b"\n".join(line.replace(b'"r"', f'"r{i}"'.encode()) for i in range(MAX_REQUESTS + 1))
    assert_rejected(module_bh, module_bh.create(module_bh.upload(over)), "input_file_id", MAX_REQUESTS + 1)


def test_null_window_and_both_endpoint_spellings_are_accepted(bh: BatchHarness):
    lines = [chat_line("a", url="/v1/chat/completions"), chat_line("b")]
    for endpoint in ("/v1/chat/completions", "/v4/chat/completions"):
        response = bh.create(bh.upload(jsonl(lines)), endpoint=endpoint, completion_window=None)
        assert response.status_code == 200, response.text
