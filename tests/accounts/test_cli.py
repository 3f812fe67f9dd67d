"""`openmaas users set-password|set-tier|verify-*` and `openmaas keys rotate` (audited as "cli")."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from openmaas.accounts.wiring import build_account_services
from openmaas.auth.sealing import SecretSealer, load_or_create_server_key
from openmaas.billing.service import BillingService
from openmaas.cli import app
from openmaas.config import load_settings
from openmaas.store.db import Database
from openmaas.store.tables import Account, AccountCredential, ApiKey, AuditEntry


@pytest.fixture
def cli(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    for name, value in {
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": url,
        "SECRET_KEY": "cli-test",
        "ENVIRONMENT": "test",
        "ACCOUNTS__PASSWORD_HASH_PROFILE": "CHEAPEST",
    }.items():
        monkeypatch.setenv(f"OPENMAAS_{name}", value)
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    run.runner = runner
    yield run


def audit_of(db: Database, action: str) -> list[AuditEntry]:
    with db.session() as session:
        return list(session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)))


def test_operator_commands_change_accounts_and_leave_audit_entries(cli):
    account_id = cli("users", "create", "Ann", "--email", "ann@example.com").strip()
    settings = load_settings()
    db = Database(settings.resolved_database_url)
    cli("users", "set-password", "ann@example.com", "--password", "ann-pass-123")
    cli("users", "set-tier", "ann@example.com", "v3")
    with db.session() as session:
        assert session.get(Account, account_id).tier == "V3"
        assert session.get(AccountCredential, account_id).password_hash.startswith("$argon2id$")
    assert [e.actor_id for e in audit_of(db, "account.set_password")] == ["cli"]
    assert [e.details for e in audit_of(db, "account.set_tier")] == [{"previous": "V0", "tier": "V3"}]

    sealer = SecretSealer(load_or_create_server_key(settings.secret_key, settings.data_dir))
    accounts = build_account_services(settings, db, sealer, BillingService(db, settings.billing))
    first = accounts.verification.submit_personal(account_id, "安", "11010519491231002X")
    assert first.id in cli("users", "verify-list")
    cli("users", "verify-reject", first.id, "--reason", "blurry")
    second = accounts.verification.submit_personal(account_id, "安", "11010519491231002X")
    cli("users", "verify-approve", second.id)
    grants = [p.total_tokens for p in BillingService(db, settings.billing).balance(account_id).packs]
    assert sorted(grants) == [1_000_000, 2_000_000]
    db.dispose()


def test_keys_rotate_revokes_and_reissues_under_the_same_name(cli):
    cli("users", "create", "Bo", "--email", "bo@example.com")
    old_key = cli("keys", "create", "--account", "bo@example.com", "--name", "ci").strip()
    old_id = old_key.split(".")[0]
    new_key = cli("keys", "rotate", old_id, "--account", "bo@example.com").strip().splitlines()[-1]
    db = Database(load_settings().resolved_database_url)
    with db.session() as session:
        old, new = session.get(ApiKey, old_id), session.get(ApiKey, new_key.split(".")[0])
        assert old.revoked_at is not None and (new.name, new.revoked_at) == ("ci", None)
    rotations = audit_of(db, "api_key.rotate")
    assert [(e.actor_id, e.details["old_key_id"]) for e in rotations] == [("cli", old_id)]
    db.dispose()


def test_rotating_someone_elses_key_fails_and_changes_nothing(cli):
    cli("users", "create", "Cy", "--email", "cy@example.com")
    cli("users", "create", "Di", "--email", "di@example.com")
    key_id = cli("keys", "create", "--account", "cy@example.com").strip().split(".")[0]
    result = cli.runner.invoke(app, ["keys", "rotate", key_id, "--account", "di@example.com"])
    assert result.exit_code == 1 and "1222" in result.output
    db = Database(load_settings().resolved_database_url)
    with db.session() as session:
        assert session.get(ApiKey, key_id).revoked_at is None
    db.dispose()
