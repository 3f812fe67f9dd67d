"""API keys: issue (shown once, stored hashed + sealed), verify, revoke; the Authenticator."""

from __future__ import annotations

import time

import jwt
import pytest
import sqlalchemy as sa

from openmaas.auth.accounts import create_account
from openmaas.auth.authenticate import Authenticator
from openmaas.auth.keys import hash_secret, issue_key, list_keys, revoke_key
from openmaas.auth.sealing import SecretSealer, load_or_create_server_key
from openmaas.errors import (
    ExpiredToken,
    InvalidToken,
    MissingCredentials,
    NotFound,
    TokenVerificationFailed,
)
from openmaas.store.tables import Account, ApiKey


@pytest.fixture
def sealer(tmp_path) -> SecretSealer:
    return SecretSealer(load_or_create_server_key("unit-test-secret", tmp_path))


@pytest.fixture
def account_id(db) -> str:
    with db.session() as session:
        return create_account(session, "alice").id


def issue(db, sealer, account_id, name="k"):
    with db.session() as session:
        return issue_key(session, sealer, account_id, name)


def ms_jwt(api_key: str, exp_offset_ms: int = 60_000) -> str:
    key_id, secret = api_key.split(".")
    now = int(time.time() * 1000)
    return jwt.encode(
        {"api_key": key_id, "exp": now + exp_offset_ms, "timestamp": now},
        secret,
        algorithm="HS256",
        headers={"alg": "HS256", "sign_type": "SIGN"},
    )


def test_issued_key_is_stored_hashed_and_sealed_never_in_clear(db, sealer, account_id):
    issued = issue(db, sealer, account_id, "laptop")
    key_id, secret = issued.api_key.split(".")
    assert key_id == issued.id and len(secret) >= 24 and "." not in secret
    with db.session() as session:
        row = session.get(ApiKey, key_id)
        stored = [str(v) for v in session.execute(sa.select(ApiKey.__table__)).one()]
    assert row.secret_hash == hash_secret(secret) != secret
    assert secret not in " ".join(stored)
    assert sealer.unseal(row.secret_sealed) == secret
    assert row.secret_hint == secret[-4:] and row.name == "laptop"


def test_two_keys_differ(db, sealer, account_id):
    first, second = issue(db, sealer, account_id), issue(db, sealer, account_id)
    assert first.id != second.id and first.api_key.split(".")[1] != second.api_key.split(".")[1]


def test_raw_key_authenticates_to_its_account(db, sealer, account_id):
    issued = issue(db, sealer, account_id)
    auth = Authenticator(db, sealer)
    principal = auth.authenticate(f"Bearer {issued.api_key}")
    assert (principal.account_id, principal.api_key_id) == (account_id, issued.id)
    assert auth.authenticate(issued.api_key).account_id == account_id  # bare key, no scheme
    assert auth.authenticate(f"bearer   {issued.api_key}  ").account_id == account_id
    with db.session() as session:
        assert session.get(ApiKey, issued.id).last_used_at is not None


def test_jwt_authenticates_to_its_account(db, sealer, account_id):
    issued = issue(db, sealer, account_id)
    principal = Authenticator(db, sealer).authenticate(f"Bearer {ms_jwt(issued.api_key)}")
    assert (principal.account_id, principal.api_key_id) == (account_id, issued.id)


@pytest.mark.parametrize("header", [None, "", "   ", "Bearer", "Bearer   "])
def test_missing_credentials_is_1001(db, sealer, header):
    with pytest.raises(MissingCredentials) as caught:
        Authenticator(db, sealer).authenticate(header)
    assert caught.value.code == "1001"


def test_wrong_secret_unknown_id_and_garbage_are_1002(db, sealer, account_id):
    issued = issue(db, sealer, account_id)
    auth = Authenticator(db, sealer)
    for header in (
        f"Bearer {issued.id}.wrong",
        "Bearer nobody.secret",
        "Bearer garbage",
        "Bearer a.b.c.d",
        f"Bearer {issued.api_key}x",
    ):
        with pytest.raises(InvalidToken) as caught:
            auth.authenticate(header)
        assert caught.value.code == "1002", header


def test_expired_jwt_is_1003(db, sealer, account_id):
    issued = issue(db, sealer, account_id)
    with pytest.raises(ExpiredToken):
        Authenticator(db, sealer).authenticate(f"Bearer {ms_jwt(issued.api_key, -60_000)}")


def test_jwt_sealed_under_another_server_key_is_1004(db, sealer, account_id, tmp_path):
    issued = issue(db, sealer, account_id)
    other_server = SecretSealer(load_or_create_server_key("a-different-server-secret", tmp_path))
    with pytest.raises(TokenVerificationFailed):
        Authenticator(db, other_server).authenticate(f"Bearer {ms_jwt(issued.api_key)}")
    # raw keys do not need the sealed copy, so they still work
    assert Authenticator(db, other_server).authenticate(f"Bearer {issued.api_key}").account_id == account_id


def test_revoked_key_no_longer_authenticates(db, sealer, account_id):
    issued, kept = issue(db, sealer, account_id), issue(db, sealer, account_id)
    auth = Authenticator(db, sealer)
    with db.session() as session:
        revoked = revoke_key(session, account_id, issued.id)
        first_revoked_at = revoked.revoked_at
    for header in (f"Bearer {issued.api_key}", f"Bearer {ms_jwt(issued.api_key)}"):
        with pytest.raises(InvalidToken):
            auth.authenticate(header)
    assert auth.authenticate(f"Bearer {kept.api_key}").api_key_id == kept.id
    with db.session() as session:  # revoking again changes nothing
        assert revoke_key(session, account_id, issued.id).revoked_at == first_revoked_at


def test_keys_are_scoped_to_their_account(db, sealer, account_id):
    with db.session() as session:
        bob = create_account(session, "bob").id
    alice_key, bob_key = issue(db, sealer, account_id), issue(db, sealer, bob)
    with db.session() as session:
        assert [k.id for k in list_keys(session, account_id)] == [alice_key.id]
        assert [k.id for k in list_keys(session, bob)] == [bob_key.id]
    with pytest.raises(NotFound), db.session() as session:
        revoke_key(session, bob, alice_key.id)
    with db.session() as session:
        assert session.get(ApiKey, alice_key.id).revoked_at is None


def test_key_of_an_inactive_account_is_refused(db, sealer, account_id):
    issued = issue(db, sealer, account_id)
    with db.session() as session:
        session.get(Account, account_id).status = "locked"
    with pytest.raises(InvalidToken):
        Authenticator(db, sealer).authenticate(f"Bearer {issued.api_key}")


def test_server_key_is_generated_once_and_reused(tmp_path):
    first = load_or_create_server_key(None, tmp_path / "d")
    assert load_or_create_server_key(None, tmp_path / "d") == first
    assert (tmp_path / "d" / "secret.key").stat().st_mode & 0o077 == 0
    assert load_or_create_server_key("configured", tmp_path / "d") != first
