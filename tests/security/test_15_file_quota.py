"""Security review finding 15: `files.max_files_per_account` was never enforced and uploads were
unbounded in count and total size, so one account could fill the disk (and with it the SQLite
database) for everyone.

Now both a file count and a stored-bytes quota per account are enforced (400, code 1214,
param `file`), exactly — checked again inside the inserting transaction — and a refused
upload leaves neither a row nor a blob. Each test fails on 99cbb66."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from openmaas.app import create_app
from openmaas.files.settings import FilesSettings
from tests.conftest import add_tenant

FILES = "/api/paas/v4/files"


@pytest.fixture
def quota_app(make_settings, database_url) -> Iterator[tuple[TestClient, object]]:
    app = create_app(
        make_settings(
            database_url=database_url,
            files=FilesSettings(max_files_per_account=2, max_bytes_per_account=1000),
        )
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, app.state.services


def upload(client, headers, size: int, name: str = "a.txt"):
    return client.post(
        FILES,
        headers=headers,
        data={"purpose": "code-interpreter"},
        files={"file": (name, b"x" * size, "text/plain")},
    )


def blob_count(services) -> int:
    root = services.files.blobs.root
    return sum(1 for p in root.rglob("*") if p.is_file())


def test_the_file_count_per_account_is_enforced(quota_app):
    client, services = quota_app
    alice, bob = add_tenant(services, "alice"), add_tenant(services, "bob")
    assert [upload(client, alice.headers, 10).status_code for _ in range(2)] == [200, 200]
    blobs = blob_count(services)
    over = upload(client, alice.headers, 10)
    assert over.status_code == 400, over.text
    assert over.json()["error"]["code"] == "1214" and "file" in over.json()["error"]["message"]
    assert blob_count(services) == blobs  # nothing half-written
    assert upload(client, bob.headers, 10).status_code == 200  # per account
    listed = client.get(FILES, headers=alice.headers).json()["data"]
    client.delete(f"{FILES}/{listed[0]['id']}", headers=alice.headers)
    assert upload(client, alice.headers, 10).status_code == 200  # room again


def test_the_stored_bytes_per_account_are_enforced(quota_app):
    client, services = quota_app
    alice = add_tenant(services, "alice")
    assert upload(client, alice.headers, 600).status_code == 200
    over = upload(client, alice.headers, 600)
    assert over.status_code == 400 and over.json()["error"]["code"] == "1214", over.text
    assert len(client.get(FILES, headers=alice.headers).json()["data"]) == 1
