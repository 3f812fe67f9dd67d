"""Schemathesis over the whole OpenAPI, authenticated: no generated request yields a 5xx.

tests/api/test_schemathesis.py fuzzes the chat/model operations in depth; this module
sweeps every operation the schema lists, a few examples each (schema-valid and -invalid),
once with an API key and, over the platform API (where a session is a credential; the model
APIs take keys), with a console session (cookie + CSRF echo). Both belong to an
administrator, so the admin routes are reached too. A real uvicorn server on the fake engine.
Logout is sent last (it ends the session it is sent with).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode

from openmaas.auth.accounts import create_account
from openmaas.auth.keys import issue_key
from openmaas.config import AccountsConfig, Settings
from tests.conftest import LiveServer, fake_embeddings, fake_models, start_live_server, with_fake_prices

PASSWORD = "fuzz-admin-pass-1"
EXAMPLES = {GenerationMode.POSITIVE: 3, GenerationMode.NEGATIVE: 2}
LAST = ("POST", "/api/platform/auth/logout")
SESSION_PATHS = "/api/platform/"  # where a console session is a credential (the model APIs take keys)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory) -> Iterator[tuple[LiveServer, object, dict[str, str]]]:
    root = tmp_path_factory.mktemp("fuzz-all")
    server = start_live_server(
        with_fake_prices(
            Settings(
                environment="test",
                data_dir=root / "data",
                database_url=f"sqlite:///{root / 'openmaas.db'}",
                models=fake_models(),
                embeddings=fake_embeddings(),
                job_poll_seconds=0.05,
                secret_key="test-secret",
                accounts=AccountsConfig(cookie_secure=False, password_hash_profile="CHEAPEST"),
            )
        )
    )
    try:
        yield server, schemathesis.openapi.from_url(f"{server.base_url}/openapi.json"), admin_key(server)
    finally:
        server.stop()


def admin_key(server: LiveServer) -> dict[str, str]:
    services = server.services
    with services.db.session() as session:
        account = create_account(session, "fuzz admin", email="fuzz-admin@example.com", is_admin=True)
        services.billing.grant_registration(session, account.id)
        key = issue_key(session, services.sealer, account.id, "fuzz", "admin")
    services.accounts.directory.set_password("operator", account.id, PASSWORD)
    return {"Authorization": f"Bearer {key.api_key}"}


def console_session(server: LiveServer) -> dict[str, str]:
    response = httpx.post(
        f"{server.base_url}/api/platform/auth/login",
        json={"login": "fuzz-admin@example.com", "password": PASSWORD},
    )
    assert response.status_code == 200, response.text
    session, csrf = response.cookies["openmaas_session"], response.cookies["openmaas_csrf"]
    return {"Cookie": f"openmaas_session={session}; openmaas_csrf={csrf}", "X-CSRF-Token": csrf}


def sweep(
    server: LiveServer, schema, headers: dict[str, str], prefix: str = "/"
) -> tuple[list[str], list[int]]:
    operations = sorted(
        (op.ok() for op in schema.get_all_operations() if op.ok().path.startswith(prefix)),
        key=lambda op: (op.method.upper(), op.path) == LAST,
    )
    failures, statuses = [], []
    for operation in operations:
        for mode, examples in EXAMPLES.items():
            if mode is GenerationMode.NEGATIVE and not can_be_invalid(operation):
                continue
            try:
                statuses += fuzz_one(server, operation, mode, examples, headers, failures)
            except Exception as exc:  # a strategy that cannot be built is reported, not fatal
                if "Unsatisfiable" not in type(exc).__name__:
                    failures.append(f"{operation.method.upper()} {operation.path}: {exc!r}"[:400])
    return failures, statuses


def can_be_invalid(operation) -> bool:
    """Schema-invalid input exists for a JSON body or a query parameter; for a path id alone
    (or a multipart upload) Hypothesis spends seconds failing to build one."""
    json_body = "application/json" in operation.get_request_payload_content_types()
    return json_body or any(p.location == "query" for p in operation.iter_parameters())


def fuzz_one(
    server: LiveServer, operation, mode, examples: int, headers: dict[str, str], failures: list[str]
) -> list[int]:
    statuses = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case) -> None:
        if "Cookie" in headers:  # a session: no generated Authorization header may override it
            case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        response = case.call(base_url=server.base_url, headers=dict(headers), timeout=30)
        statuses.append(response.status_code)
        if response.status_code >= 500:
            failures.append(
                f"{response.status_code} {operation.method.upper()} {case.path} "
                f"{case.path_parameters} {str(case.body)[:200]} → {response.text[:300]}"
            )

    check()
    return statuses


def test_whole_api_with_an_api_key_has_no_server_errors(fuzzed):
    server, schema, key_headers = fuzzed
    failures, statuses = sweep(server, schema, key_headers)
    assert failures == []
    assert len(statuses) > 100 and authenticated(statuses)


def test_whole_api_with_a_console_session_has_no_server_errors(fuzzed):
    server, schema, _ = fuzzed
    failures, statuses = sweep(server, schema, console_session(server), prefix=SESSION_PATHS)
    assert failures == []
    assert len(statuses) > 50 and authenticated(statuses)


def authenticated(statuses: list[int]) -> bool:
    """The credential worked: many answers were served, few were 401."""
    served = sum(200 <= s < 300 for s in statuses)
    return served >= 40 and statuses.count(401) <= len(statuses) // 10
