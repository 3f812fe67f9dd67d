"""The console flow against a real uvicorn server: register → login (cookie) → create a key →
the key works with the real `zhipuai` SDK → rotate → the old key is refused, the new one works."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import zhipuai
from zhipuai import ZhipuAI

from tests.accounts.conftest import PASSWORD, RecordingNotifier, account_settings, install_recorder
from tests.conftest import LiveServer, start_live_server

HELLO = [{"role": "user", "content": "你好"}]


@pytest.fixture
def console_server(make_settings) -> Iterator[tuple[LiveServer, RecordingNotifier]]:
    server = start_live_server(account_settings(make_settings))
    recorder = install_recorder(server.services)
    yield server, recorder
    server.stop()


def chat(server: LiveServer, api_key: str) -> str:
    with ZhipuAI(api_key=api_key, base_url=server.zhipu_base, max_retries=0) as client:
        response = client.chat.completions.create(model="glm-4", messages=HELLO)
    return response.choices[0].message.content


def test_register_login_key_sdk_rotate(console_server):
    server, recorder = console_server
    engine = server.services.catalog.resolve("glm-4").engine
    with httpx.Client(base_url=server.base_url, timeout=30) as browser:
        assert (
            browser.post(
                "/api/platform/auth/codes", json={"channel": "email", "target": "live@example.com"}
            ).status_code
            == 200
        )
        registered = browser.post(
            "/api/platform/auth/register",
            json={
                "email": "live@example.com",
                "code": recorder.last_code("live@example.com"),
                "password": PASSWORD,
                "name": "Live",
            },
        )
        assert registered.status_code == 201
        assert (
            browser.post(
                "/api/platform/auth/login", json={"login": "live@example.com", "password": PASSWORD}
            ).status_code
            == 200
        )
        csrf = {"X-CSRF-Token": browser.cookies["openmaas_csrf"]}

        assert browser.post("/api/platform/keys", json={"name": "sdk"}).status_code == 403  # no CSRF echo
        old = browser.post("/api/platform/keys", json={"name": "sdk"}, headers=csrf).json()
        engine.enqueue("你好！")
        assert chat(server, old["api_key"]) == "你好！"

        rotated = browser.post(f"/api/platform/keys/{old['id']}/rotate", headers=csrf).json()
        assert rotated["name"] == "sdk"
        with pytest.raises(zhipuai.APIStatusError) as refused:
            chat(server, old["api_key"])
        assert refused.value.status_code == 401
        engine.enqueue("又见面了")
        assert chat(server, rotated["api_key"]) == "又见面了"

        keys = browser.get("/api/platform/keys").json()["data"]
        assert [(k["id"], k["name"]) for k in keys] == [(rotated["id"], "sdk")]
        assert keys[0]["last_used_at"] is not None
