"""Account fixtures: an in-process app whose notifier records every message, plus helpers that
walk the sign-up and login flows the way the console does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from openmaas.app import create_app
from openmaas.auth.accounts import create_account
from openmaas.auth.keys import issue_key
from openmaas.config import AccountsConfig, Settings
from openmaas.notify.base import OutgoingMessage
from openmaas.services import Services
from openmaas.store import migrate
from openmaas.store.db import Database

PASSWORD = "correct-horse-1"
CODE_PATTERN = re.compile(r"\b(\d{6})\b")


@dataclass
class RecordingNotifier:
    """Test double implementing the Notifier protocol: keeps every message it is given."""

    messages: list[OutgoingMessage] = field(default_factory=list)

    def send(self, message: OutgoingMessage) -> None:
        self.messages.append(message)

    def to(self, target: str) -> list[OutgoingMessage]:
        return [m for m in self.messages if m.target == target.lower()]

    def last_code(self, target: str) -> str:
        return CODE_PATTERN.search(self.to(target)[-1].body).group(1)


def install_recorder(services: Services) -> RecordingNotifier:
    recorder = RecordingNotifier()
    services.accounts.notifier.route("email", recorder)
    services.accounts.notifier.route("phone", recorder)
    return recorder


def account_settings(make_settings, accounts: dict | None = None, **overrides) -> Settings:
    """Test settings: plain-http cookies and the cheapest argon2 parameters."""
    values = {"cookie_secure": False, "password_hash_profile": "CHEAPEST"} | (accounts or {})
    return make_settings(accounts=AccountsConfig(**values), **overrides)


@dataclass
class Admin:
    account_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def add_admin(services: Services, name: str = "root") -> Admin:
    with services.db.session() as session:
        account = create_account(session, name, email=f"{name}@example.com", is_admin=True)
        key = issue_key(session, services.sealer, account.id, "admin", "admin")
    return Admin(account.id, key.api_key)


@dataclass
class Platform:
    client: TestClient
    services: Services
    notifier: RecordingNotifier

    def send_code(self, target: str, channel: str = "email"):
        return self.client.post("/api/platform/auth/codes", json={"channel": channel, "target": target})

    def register(self, email: str, password: str = PASSWORD, name: str = "Tester") -> dict:
        assert self.send_code(email).status_code == 200
        response = self.client.post(
            "/api/platform/auth/register",
            json={"email": email, "code": self.notifier.last_code(email), "password": password, "name": name},
        )
        assert response.status_code == 201, response.text
        return response.json()

    def login(self, login: str, password: str = PASSWORD):
        return self.client.post("/api/platform/auth/login", json={"login": login, "password": password})

    def csrf(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.client.cookies["openmaas_csrf"]}

    def registered_key(self, email: str) -> tuple[str, dict[str, str]]:
        """Registers `email` and issues it a manage-scope key; (account id, bearer headers) — no
        cookies used."""
        account = self.register(email)
        with self.services.db.session() as session:
            key = issue_key(session, self.services.sealer, account["id"], "k", "manage")
        return account["id"], {"Authorization": f"Bearer {key.api_key}"}


@contextmanager
def open_platform(settings: Settings) -> Iterator[Platform]:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        services = app.state.services
        yield Platform(client, services, install_recorder(services))


@pytest.fixture
def platform(make_settings) -> Iterator[Platform]:
    """The app on SQLite."""
    with open_platform(account_settings(make_settings)) as opened:
        yield opened


@pytest.fixture
def platform_any_db(make_settings, database_url) -> Iterator[Platform]:
    """The app once on SQLite and once on PostgreSQL."""
    with open_platform(account_settings(make_settings, database_url=database_url)) as opened:
        yield opened


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A migrated database, once on SQLite and once on PostgreSQL."""
    database = Database(database_url)
    migrate.upgrade(database.engine)
    yield database
    database.dispose()
