"""Opt-in pytest plugin: every JSON answer a test provokes is checked against its route's
`response_model` (routes that return a `JSONBody` are not re-validated by FastAPI).

    pytest -p tests.answer_conformance tests/sdk tests/web ...

Reports, at the end of the run, answers that do not validate and fields an answer carries
that its model does not declare; either fails the run.
"""

from __future__ import annotations

from typing import Any

import fastapi.routing
import orjson
import pytest
from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response

_models: dict[Any, Any] = {}  # endpoint function -> response_model (test-run bookkeeping)
_adapters: dict[Any, TypeAdapter[Any]] = {}
_problems: dict[str, int] = {}
_checked: set[str] = set()
_route_init = fastapi.routing.APIRoute.__init__
_run_endpoint = fastapi.routing.run_endpoint_function


def _recording_init(self: fastapi.routing.APIRoute, path: str, endpoint: Any, **kwargs: Any) -> None:
    _route_init(self, path, endpoint, **kwargs)
    if self.response_model is not None:
        _models[endpoint] = (self.path, self.response_model)


async def _checking_run(*, dependant: Any, values: dict[str, Any], is_coroutine: bool) -> Any:
    answer = await _run_endpoint(dependant=dependant, values=values, is_coroutine=is_coroutine)
    found = _models.get(dependant.call)
    if (
        found
        and isinstance(answer, Response)
        and answer.status_code < 300
        and (answer.media_type or "").startswith("application/json")
    ):
        path, model = found
        _check(path, model, orjson.loads(answer.body))
    return answer


def _check(path: str, model: Any, body: Any) -> None:
    adapter = _adapters.setdefault(model, TypeAdapter(model))
    _checked.add(path)
    try:
        dumped = adapter.dump_python(adapter.validate_python(body), mode="json", by_alias=True)
    except ValidationError as exc:
        _note(f"{path}: does not validate: {exc.errors()[0]}")
        return
    for problem in _undeclared(body, dumped, ""):
        _note(f"{path}: {problem}")


def _undeclared(body: Any, dumped: Any, where: str) -> list[str]:
    if isinstance(body, dict) and isinstance(dumped, dict):
        extra = [f"undeclared field {where}.{k}" for k in body if k not in dumped]
        nested = [p for k in body if k in dumped for p in _undeclared(body[k], dumped[k], f"{where}.{k}")]
        return extra + nested
    if isinstance(body, list) and isinstance(dumped, list):
        return [p for b, d in zip(body, dumped, strict=False) for p in _undeclared(b, d, f"{where}[]")]
    return []


def _note(problem: str) -> None:
    _problems[problem] = _problems.get(problem, 0) + 1


# at import (`-p` loads this before the conftests import the routers)
fastapi.routing.APIRoute.__init__ = _recording_init  # type: ignore[method-assign]
fastapi.routing.run_endpoint_function = _checking_run


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_sep("-", f"answer conformance: {len(_checked)} routes checked")
    terminalreporter.write_line(", ".join(sorted(_checked)))
    for problem, count in sorted(_problems.items()):
        terminalreporter.write_line(f"{problem} (x{count})")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _problems and exitstatus == 0:
        session.exitstatus = 1
