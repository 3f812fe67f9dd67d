"""The console without a browser (in-process app, fake engine): sign-in redirects, security
headers, the language switch, escaping, the cookie-authenticated console API (CSRF, tenancy,
same billing path as the API) and the translations every page needs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from openmaas.accounts.verification import STATUSES
from openmaas.batch.types import RUNNABLE as BATCH_RUNNABLE
from openmaas.batch.types import TERMINAL as BATCH_TERMINAL
from openmaas.billing.bills import RECHARGE_KINDS
from openmaas.finetune.types import ACTIVE, TERMINAL
from openmaas.web import i18n
from openmaas.web.async_results import ASYNC_KINDS
from openmaas.web.pages import PAGES
from tests.accounts.conftest import Platform, account_settings, open_platform
from tests.sdk._support import usage_rows, wait_for

WEB = Path(__file__).parents[2] / "src" / "openmaas" / "web"
STATIC_KEY = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z_.]+)["']""")


@pytest.fixture
def platform(make_settings) -> Iterator[Platform]:
    with open_platform(account_settings(make_settings)) as opened:
        yield opened


def sign_in(platform: Platform, email: str, name: str = "Tester") -> dict[str, str]:
    platform.register(email, name=name)
    assert platform.login(email).status_code == 200
    return platform.csrf()


def test_signed_out_visitors_are_sent_to_the_login_page(platform):
    root = platform.client.get("/console", follow_redirects=False)
    assert (root.status_code, root.headers["location"]) == (303, "/console/overview")
    page = platform.client.get("/console/keys?x=1", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login?next=%2Fconsole%2Fkeys%3Fx%3D1"
    login = platform.client.get("/console/login")
    assert login.status_code == 200
    assert '<html lang="zh-CN">' in login.text and "获取验证码" in login.text


def test_pages_render_with_a_strict_content_security_policy(platform):
    sign_in(platform, "page@example.com")
    for slug, page in PAGES.items():
        response = platform.client.get(f"/console/{slug}")
        if page.admin_only:
            assert response.status_code == 404, slug  # not an administrator
            continue
        assert response.status_code == 200, slug
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy
        assert response.headers["cache-control"] == "no-store"
        scripts = re.findall(r"<script([^>]*)>", response.text)
        assert all("src=" in attrs or 'type="application/json"' in attrs for attrs in scripts), slug
        assert not re.search(r"\son[a-z]+=", response.text), f"inline event handler on {slug}"
    assert platform.client.get("/console/nowhere").status_code == 404
    assert platform.client.get("/console/login", follow_redirects=False).status_code == 303  # signed in


def test_language_switch_is_remembered(platform):
    sign_in(platform, "lang@example.com")
    assert "<h1>概览</h1>" in platform.client.get("/console/overview").text
    english = platform.client.get("/console/overview?lang=en")
    assert "<h1>Overview</h1>" in english.text and '<html lang="en">' in english.text
    assert platform.client.cookies["openmaas_lang"] == "en"
    assert "<h1>API keys</h1>" in platform.client.get("/console/keys").text
    assert "<h1>API 密钥</h1>" in platform.client.get("/console/keys?lang=zh").text


def test_user_content_is_escaped(platform):
    sign_in(platform, "xss@example.com", name="<script>alert(1)</script>")
    html = platform.client.get("/console/overview").text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_console_api_needs_the_session_and_the_csrf_header(platform):
    body = {"model": "glm-4", "messages": [{"role": "user", "content": "hi"}]}
    assert platform.client.post("/console/api/chat/completions", json=body).status_code == 401
    csrf = sign_in(platform, "chat@example.com")
    refused = platform.client.post("/console/api/chat/completions", json=body)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "1220")
    platform.services.catalog.resolve("glm-4").engine.enqueue("你好！")
    answered = platform.client.post("/console/api/chat/completions", json=body, headers=csrf)
    assert answered.status_code == 200, answered.text
    assert answered.json()["choices"][0]["message"]["content"] == "你好！"
    account_id = platform.client.get("/api/platform/account").json()["id"]
    rows = wait_for(lambda: usage_rows(platform.services, account_id=account_id))
    assert rows[0].api_key_id is None and rows[0].model == "glm-4"  # billed like any API call


def test_console_api_validates_like_the_wire_api(platform):
    csrf = sign_in(platform, "bad@example.com")
    response = platform.client.post(
        "/console/api/chat/completions", headers=csrf, json={"model": "glm-4", "messages": [], "top_p": 3}
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "1214")
    unknown = {"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}
    missing = platform.client.post("/console/api/chat/completions", headers=csrf, json=unknown)
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "1211"


def test_console_knowledge_bases_belong_to_their_account(platform):
    csrf = sign_in(platform, "owner@example.com")
    created = platform.client.post("/console/api/knowledge", headers=csrf, json={"name": "mine"}).json()
    assert [b["name"] for b in platform.client.get("/console/api/knowledge").json()["list"]] == ["mine"]
    platform.client.post("/api/platform/auth/logout", headers=csrf)
    sign_in(platform, "other@example.com")
    assert platform.client.get("/console/api/knowledge").json()["list"] == []
    assert platform.client.get(f"/console/api/knowledge/{created['id']}").status_code == 404
    assert platform.client.get(f"/console/api/files?knowledge_id={created['id']}").status_code == 404


def test_files_batches_async_results_and_assistants_belong_to_their_account(platform):
    csrf = sign_in(platform, "files-owner@example.com")
    lines = (
        b'{"custom_id": "1", "method": "POST", "url": "/v4/chat/completions", '
        b'"body": {"model": "glm-4", "messages": [{"role": "user", "content": "hi"}]}}\n'
    )
    uploaded = platform.client.post(
        "/console/api/files",
        headers=csrf,
        data={"purpose": "batch"},
        files={"file": ("in.jsonl", lines, "application/jsonl")},
    )
    assert uploaded.status_code == 200, uploaded.text
    file_id = uploaded.json()["id"]
    batch = platform.client.post(
        "/console/api/batches",
        headers=csrf,
        json={"input_file_id": file_id, "endpoint": "/v4/chat/completions"},
    )
    assert batch.status_code == 200, batch.text
    listed = platform.client.get("/console/api/batches").json()["data"]
    assert [b["id"] for b in listed] == [batch.json()["id"]]
    assert platform.client.get(f"/console/api/files/{file_id}/content").content == lines
    assert platform.client.get("/console/api/async-results").json() == {"data": []}
    assert platform.client.get("/console/api/assistants").json()["data"] == []
    platform.client.post("/api/platform/auth/logout", headers=csrf)
    other = sign_in(platform, "files-other@example.com")
    assert platform.client.get("/console/api/files").json()["data"] == []
    assert platform.client.get("/console/api/batches").json()["data"] == []
    for response in (
        platform.client.get(f"/console/api/files/{file_id}/content"),
        platform.client.delete(f"/console/api/files/{file_id}", headers=other),
        platform.client.post(f"/console/api/batches/{batch.json()['id']}/cancel", headers=other),
        platform.client.get(f"/console/api/async-result/{batch.json()['id']}"),
        platform.client.get("/console/api/assistants/nope/conversations"),
    ):
        assert response.status_code in (400, 404) and response.json()["error"]["code"], response.text
    bad = platform.client.get("/console/api/async-results?limit=0")
    assert bad.status_code in (400, 422) and "error" in bad.json()


def test_static_assets_are_served(platform):
    script = platform.client.get("/console/static/js/api.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    chart = platform.client.get("/console/static/vendor/chart.umd.js")
    assert chart.status_code == 200, "the chart library is built by `make install` (npm ci in web/)"


def used_keys(path: Path) -> set[str]:
    return set(STATIC_KEY.findall(path.read_text()))


def test_every_translation_key_exists_and_reaches_its_page():
    dynamic = (
        {f"verify.{s}" for s in (*STATUSES, "unverified", "personal", "enterprise")}
        | {f"overview.verify_{s}" for s in ("unverified", "pending", "rejected")}
        | {f"finance.kind_{k}" for k in RECHARGE_KINDS}
        | {f"playground.role_{r}" for r in ("user", "assistant", "tool")}
        | {f"finetune.status_{s}" for s in (*ACTIVE, *TERMINAL)}
        | {f"page.{slug}" for slug in (*PAGES, "login", "not_found")}
        | {f"batches.status_{s}" for s in (*BATCH_TERMINAL, *BATCH_RUNNABLE)}
        | {f"async.kind_{k}" for k in ASYNC_KINDS}
        | {f"async.status_{s}" for s in ("PROCESSING", "SUCCESS", "FAIL")}
    )
    templates = set().union(*(used_keys(p) for p in (WEB / "templates").glob("*.html")))
    missing = (templates | dynamic) - set(i18n.ENTRIES)
    for script in (WEB / "static" / "js").glob("*.js"):
        page = script.stem
        keys = used_keys(script)
        missing |= keys - set(i18n.ENTRIES)
        if page in i18n.JS_PREFIXES:
            shipped = set(i18n.js_strings("en", page))
            assert keys <= shipped, f"{script.name} uses keys its page does not ship: {keys - shipped}"
    assert not missing, sorted(missing)
    assert all(zh and en for zh, en in i18n.ENTRIES.values())
