"""Reading and checking a batch input file (JSONL) and the create request's own fields.

Every problem is a 400 with code 1214 that names the field and, for the file, the line:
`custom_id 参数非法。请检查文档 (invalid custom_id: line 3: duplicate custom_id 'r-1')`.
Line numbers count the file's lines from 1, blank lines included (they are skipped).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson

from openmaas.batch.types import ENDPOINT_KINDS, MAX_METADATA_KEYS, BatchRequest
from openmaas.errors import InvalidField

MAX_CUSTOM_ID = 512
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
DEFAULT_WINDOW_HOURS = 24
MAX_WINDOW_HOURS = 7 * 24  # the docs: unfinished batches are cancelled after 7 days
_WINDOW = re.compile(r"^(\d{1,3})h$")


class InvalidBatchLine(InvalidField):
    """A bad line of the input file (1214): the message names the field and the line."""

    def __init__(self, line: int, field: str, reason: str) -> None:
        super().__init__(field, f"line {line}: {reason}")
        self.line = line


@dataclass(frozen=True)
class InputSummary:
    total: int
    model: str


def endpoint_kind(endpoint: str) -> str:
    kind = ENDPOINT_KINDS.get(endpoint)
    if kind is None:
        raise InvalidField("endpoint", f"one of {', '.join(ENDPOINT_KINDS)}")
    return kind


def window_hours(completion_window: str | None) -> int:
    """`null` (the zhipuai default) means the documented 24 h; otherwise "<n>h"."""
    if completion_window is None:
        return DEFAULT_WINDOW_HOURS
    found = _WINDOW.match(completion_window)
    if not found or not 1 <= int(found.group(1)) <= MAX_WINDOW_HOURS:
        raise InvalidField("completion_window", f'like "24h" (1h to {MAX_WINDOW_HOURS}h), or null')
    return int(found.group(1))


def check_metadata(metadata: dict[str, str] | None) -> None:
    if not metadata:
        return
    if len(metadata) > MAX_METADATA_KEYS:
        raise InvalidField("metadata", f"at most {MAX_METADATA_KEYS} keys")
    for key, value in metadata.items():
        if not key or len(key) > MAX_METADATA_KEY:
            raise InvalidField("metadata", f"keys are 1 to {MAX_METADATA_KEY} characters")
        if len(value) > MAX_METADATA_VALUE:
            raise InvalidField(f"metadata.{key}", f"at most {MAX_METADATA_VALUE} characters")


def read_requests(stream: BinaryIO) -> Iterator[BatchRequest]:
    """Every request of the file in order, each checked for shape; blank lines skipped."""
    position = 0
    for number, raw in enumerate(stream, start=1):
        text = _decode(raw, number)
        if not text.strip():
            continue
        yield parse_line(text, number, position)
        position += 1


def validate_input(stream: BinaryIO, endpoint: str, max_requests: int) -> InputSummary:
    """The whole file against the batch: size, endpoint, unique custom_id, one model."""
    kind = endpoint_kind(endpoint)
    seen: set[str] = set()
    model: str | None = None
    for request in read_requests(stream):
        if request.position >= max_requests:
            raise InvalidBatchLine(
                request.line, "input_file_id", f"at most {max_requests} requests per batch"
            )
        _check_against_batch(request, kind, endpoint, seen, model)
        seen.add(request.custom_id)
        model = model or request.model
    if model is None:
        raise InvalidField("input_file_id", "the file holds no requests")
    return InputSummary(len(seen), model)


def parse_line(text: str, number: int, position: int) -> BatchRequest:
    data = _json_object(text, number)
    custom_id = data.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id.strip() or len(custom_id) > MAX_CUSTOM_ID:
        raise InvalidBatchLine(
            number, "custom_id", f"a non-empty string of at most {MAX_CUSTOM_ID} characters is required"
        )
    method = data.get("method")
    if not isinstance(method, str) or method.upper() != "POST":
        raise InvalidBatchLine(number, "method", "must be POST")
    url = data.get("url")
    if url not in ENDPOINT_KINDS:
        raise InvalidBatchLine(number, "url", f"one of {', '.join(ENDPOINT_KINDS)}")
    body = data.get("body")
    if not isinstance(body, dict):
        raise InvalidBatchLine(number, "body", "a JSON object is required")
    if not isinstance(body.get("model"), str) or not body["model"].strip():
        raise InvalidBatchLine(number, "body.model", "a model name is required")
    return BatchRequest(position, number, custom_id, url, body)


def _check_against_batch(
    request: BatchRequest, kind: str, endpoint: str, seen: set[str], model: str | None
) -> None:
    if ENDPOINT_KINDS[request.url] != kind:
        raise InvalidBatchLine(
            request.line, "url", f"{request.url} does not match the batch endpoint {endpoint}"
        )
    if request.custom_id in seen:
        raise InvalidBatchLine(request.line, "custom_id", f"duplicate custom_id {request.custom_id!r}")
    if model is not None and request.model != model:
        raise InvalidBatchLine(
            request.line, "body.model", f"one model per batch: {request.model!r} differs from {model!r}"
        )


def _decode(raw: bytes, number: int) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidBatchLine(number, "input_file_id", "not UTF-8 text") from None
    return text.removeprefix("\ufeff") if number == 1 else text


def _json_object(text: str, number: int) -> dict[str, Any]:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidBatchLine(number, "input_file_id", "not a JSON object") from None
    if not isinstance(data, dict):
        raise InvalidBatchLine(number, "input_file_id", "not a JSON object")
    return data
