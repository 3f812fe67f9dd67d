"""Browser fixtures: Debian's Chromium driven by Playwright against a real uvicorn server on
the real 0.5B weights, with a recording notifier (sign-up codes) and one administrator.

Nothing downloads a browser: `scripts/test.sh` installs the `chromium` package when it is
missing and Playwright launches /usr/bin/chromium. Screenshots go to
`$OPENMAAS_TEST_ARTIFACTS/screenshots` (scripts/test.sh sets `artifacts/`).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from openmaas.auth.accounts import create_account
from openmaas.config import AccountsConfig, Settings
from tests.accounts.conftest import PASSWORD, RecordingNotifier, install_recorder
from tests.conftest import LiveServer, real_models, start_live_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 375, "height": 812}
ADMIN_EMAIL = "root@example.com"


def artifacts_dir() -> Path:
    return Path(os.environ.get("OPENMAAS_TEST_ARTIFACTS", "artifacts"))


def screenshots_dir() -> Path:
    path = artifacts_dir() / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (scripts/test.sh does it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Console:
    """The live server, its notifier and a browser; helpers walk the console as a person does."""

    server: LiveServer
    notifier: RecordingNotifier
    browser: Browser
    problems: list[str] = field(default_factory=list)  # console errors, CSP violations, page errors
    allowed: list[str] = field(default_factory=list)  # console errors a test provokes on purpose

    def allow(self, text: str) -> None:
        self.allowed.append(text)

    def url(self, path: str) -> str:
        return self.server.base_url + path

    @contextmanager
    def context(self, viewport: dict | None = None) -> Iterator[BrowserContext]:
        context = self.browser.new_context(
            viewport=viewport or LAPTOP, locale="zh-CN", timezone_id="Asia/Shanghai"
        )
        context.set_default_timeout(20_000)
        context.on("page", self._watch)
        try:
            yield context
        finally:
            context.close()

    def _watch(self, page: Page) -> None:
        def on_console(message) -> None:
            if message.type == "error" and not any(text in message.text for text in self.allowed):
                self.problems.append(f"console error on {page.url}: {message.text}")

        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("console", on_console)
        page.on("dialog", lambda dialog: dialog.accept())

    def shot(self, page: Page, name: str) -> None:
        page.screenshot(path=str(screenshots_dir() / f"{name}.png"), full_page=True)

    # accounts ------------------------------------------------------------------------------
    def register(self, email: str, name: str = "Tester") -> None:
        """Registers through the API (the console's own sign-up is walked in its own test)."""
        with httpx.Client(base_url=self.server.base_url, timeout=30) as client:
            assert (
                client.post(
                    "/api/platform/auth/codes", json={"channel": "email", "target": email}
                ).status_code
                == 200
            )
            response = client.post(
                "/api/platform/auth/register",
                json={
                    "email": email,
                    "code": self.notifier.last_code(email),
                    "password": PASSWORD,
                    "name": name,
                },
            )
            assert response.status_code == 201, response.text

    def sign_in(self, page: Page, login: str, password: str = PASSWORD) -> None:
        page.goto(self.url("/console/login"))
        page.fill("#signin-form [name=login]", login)
        page.fill("#signin-form [name=password]", password)
        page.click("#signin-form [type=submit]")
        page.wait_for_url(re.compile(r".*/console/overview$"))

    def signed_in_page(self, context: BrowserContext, email: str, name: str = "Tester") -> Page:
        self.register(email, name)
        page = context.new_page()
        self.sign_in(page, email)
        return page


def console_settings(data_dir: Path) -> Settings:
    return Settings(
        environment="test",
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir}/db.sqlite",
        models=real_models(),
        job_poll_seconds=0.05,
        secret_key="test-secret",
        accounts=AccountsConfig(cookie_secure=False, password_hash_profile="CHEAPEST"),
    )


@pytest.fixture(scope="module")
def console(tmp_path_factory, browser) -> Iterator[Console]:
    """Real model, real embeddings, SQLite, plain-http cookies; an administrator with a password."""
    server = start_live_server(console_settings(tmp_path_factory.mktemp("console")))
    notifier = install_recorder(server.services)
    with server.services.db.session() as session:
        create_account(session, "root", email=ADMIN_EMAIL, is_admin=True)
    server.services.accounts.directory.set_password(None, ADMIN_EMAIL, PASSWORD)
    opened = Console(server, notifier, browser)
    yield opened
    server.stop()


@pytest.fixture
def clean_console(console) -> Iterator[Console]:
    """The module's console; the test fails if a page logged an error or broke the CSP."""
    console.problems.clear()
    console.allowed.clear()
    yield console
    assert console.problems == [], console.problems
