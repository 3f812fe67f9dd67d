"""The console's list routes page as the API does: they take the API's query models (same
parameters, same defaults) and answer the same page, so their defaults cannot drift apart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute

from openmaas.app import create_app
from tests.accounts.conftest import Platform, account_settings, open_platform
from tests.api.test_response_models import api_routes
from tests.web.test_console_pages import sign_in

CONSOLE, V4 = "/console/api", "/api/paas/v4"


@pytest.fixture
def platform(make_settings) -> Iterator[Platform]:
    with open_platform(account_settings(make_settings)) as opened:
        yield opened


def query_of(route: APIRoute) -> list[tuple[str, object, object]]:
    return [(q.name, q.field_info.annotation, q.field_info.default) for q in route.dependant.query_params]


def test_console_lists_take_the_api_query(make_settings):
    routes = [r for r in api_routes(create_app(account_settings(make_settings)).routes) if "GET" in r.methods]
    gets = {r.path: r for r in routes}  # included routers keep their own paths: /files, /console/api/files
    lists = ["/knowledge", "/files", "/batches", "/fine_tuning/jobs", "/fine_tuning/jobs/{job_id}/events"]
    for path in lists:
        assert query_of(gets[CONSOLE + path]) == query_of(gets[path]) != [], path


def test_console_and_api_answer_the_same_default_pages(platform):
    csrf = sign_in(platform, "pages@example.com")
    key = platform.client.post("/api/platform/keys", headers=csrf, json={"name": "pages"}).json()["api_key"]
    bearer = {"Authorization": f"Bearer {key}"}
    for n in range(11):  # one more than the knowledge list's default page
        assert platform.client.post(
            "/console/api/knowledge", headers=csrf, json={"name": f"kb {n}"}
        ).is_success
    for n in range(21):  # one more than the file list's
        upload = {"file": (f"{n}.jsonl", b'{"a": 1}\n', "application/jsonl")}
        response = platform.client.post(
            "/console/api/files", headers=csrf, data={"purpose": "batch"}, files=upload
        )
        assert response.is_success, response.text
    for path, size, more in (("/knowledge", 10, "total"), ("/files", 20, "has_more")):
        console = platform.client.get(CONSOLE + path).json()
        api = platform.client.get(V4 + path, headers=bearer).json()
        assert console == api, path
        assert len(api.get("list", api.get("data", []))) == size and api[more] in (11, True), path
