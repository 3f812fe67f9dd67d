"""Files API (reference §11) on SQLite and PostgreSQL: upload, list, content, delete, limits,
tenancy; and the real zhipuai / openai SDKs against a live server."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from openai import OpenAI
from zhipuai import ZhipuAI

from openmaas.app import create_app
from openmaas.files.settings import FilesSettings
from tests.conftest import add_tenant

FILES = "/api/paas/v4/files"
JSONL = b'{"messages": [{"role": "user", "content": "hi"}]}\n'


def upload(harness, name="train.jsonl", data=JSONL, purpose="fine-tune", headers=None):
    return harness.client.post(
        FILES,
        data={"purpose": purpose},
        files={"file": (name, data)},
        headers=headers or harness.tenant.headers,
    )


def test_upload_retrieve_content_delete(db_harness):
    created = upload(db_harness)
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["object"] == "file" and body["bytes"] == len(JSONL)
    assert body["purpose"] == "fine-tune" and body["filename"] == "train.jsonl"
    file_id = body["id"]
    headers = db_harness.tenant.headers
    assert db_harness.client.get(f"{FILES}/{file_id}", headers=headers).json()["id"] == file_id
    content = db_harness.client.get(f"{FILES}/{file_id}/content", headers=headers)
    assert content.content == JSONL and content.headers["content-type"] == "application/octet-stream"
    deleted = db_harness.client.delete(f"{FILES}/{file_id}", headers=headers).json()
    assert deleted == {"id": file_id, "object": "file", "deleted": True}
    assert db_harness.client.get(f"{FILES}/{file_id}", headers=headers).status_code == 404
    assert db_harness.client.get(f"{FILES}/{file_id}/content", headers=headers).status_code == 404


def test_list_pages_with_after_until_empty(db_harness):
    ids = [upload(db_harness, f"f{i}.jsonl").json()["id"] for i in range(5)]
    upload(db_harness, "notes.jsonl", purpose="batch")
    seen, after = [], None
    while True:
        params = {"purpose": "fine-tune", "limit": 2} | ({"after": after} if after else {})
        page = db_harness.client.get(FILES, params=params, headers=db_harness.tenant.headers).json()
        assert page["object"] == "list"
        if not page["data"]:
            break
        seen += [f["id"] for f in page["data"]]
        after = seen[-1]
        assert page["has_more"] == (len(seen) < 5)
    assert seen == list(reversed(ids))  # newest first, each once
    everything = db_harness.client.get(FILES, headers=db_harness.tenant.headers).json()["data"]
    assert len(everything) == 6


def test_other_accounts_see_nothing(db_harness):
    file_id = upload(db_harness).json()["id"]
    intruder = db_harness.other.headers
    for method, path in [
        ("GET", f"{FILES}/{file_id}"),
        ("GET", f"{FILES}/{file_id}/content"),
        ("DELETE", f"{FILES}/{file_id}"),
    ]:
        response = db_harness.client.request(method, path, headers=intruder)
        assert response.status_code == 404, (method, path)
    assert db_harness.client.get(FILES, headers=intruder).json()["data"] == []
    assert db_harness.client.get(f"{FILES}/{file_id}", headers=db_harness.tenant.headers).status_code == 200


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"purpose": "fine-tune", "name": "data.txt"}, "1214"),  # fine-tune takes .jsonl only
        ({"purpose": "no-such-purpose", "name": "a.jsonl"}, "1214"),
        ({"purpose": None, "name": "a.jsonl"}, "1214"),
    ],
)
def test_bad_uploads(harness, form, code):
    data = {"purpose": form["purpose"]} if form["purpose"] else {}
    response = harness.client.post(
        FILES, data=data, files={"file": (form["name"], JSONL)}, headers=harness.tenant.headers
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == code


def test_missing_file_and_json_body(harness):
    no_file = harness.client.post(
        FILES, data={"purpose": "batch"}, files={"other": ("x", b"")}, headers=harness.tenant.headers
    )
    assert no_file.json()["error"]["code"] == "1213"
    as_json = harness.client.post(
        FILES, json={"purpose": "batch", "upload_detail": []}, headers=harness.tenant.headers
    )
    assert as_json.status_code == 400


def test_size_limit_per_purpose_is_the_documented_error(make_settings):
    settings = make_settings(files=FilesSettings(default_max_bytes=1000, max_bytes_by_purpose={"batch": 100}))
    app = create_app(settings)
    with TestClient(app) as client:
        tenant = add_tenant(app.state.services)
        too_big = client.post(
            FILES, data={"purpose": "batch"}, files={"file": ("b.jsonl", b"x" * 101)}, headers=tenant.headers
        )
        assert too_big.status_code == 435 and too_big.json()["error"]["code"] == "1210"
        fine = client.post(
            FILES,
            data={"purpose": "fine-tune"},
            files={"file": ("f.jsonl", b"x" * 500)},
            headers=tenant.headers,
        )
        assert fine.status_code == 200
        huge = client.post(
            FILES,
            data={"purpose": "fine-tune"},
            files={"file": ("f.jsonl", b"x" * 3_000_000)},
            headers=tenant.headers,
        )
        assert huge.status_code == 413  # past every purpose's limit: refused before parsing
        assert client.get("/health").status_code == 200
        listed = client.get(FILES, headers=tenant.headers).json()["data"]
        assert [f["bytes"] for f in listed] == [500]
        blobs = [p for p in (settings.data_dir / "blobs").rglob("*") if p.is_file()]
        assert len(blobs) == 1  # refused uploads left nothing behind


def test_zhipuai_sdk_files(live_server, tmp_path):
    client = ZhipuAI(api_key=live_server.tenant.api_key, base_url=live_server.zhipu_base, max_retries=0)
    path = tmp_path / "batch.jsonl"
    path.write_bytes(JSONL)
    created = client.files.create(file=path, purpose="batch")
    assert created.id and created.bytes == len(JSONL) and created.filename == "batch.jsonl"
    listed = client.files.list(purpose="batch")
    assert [f.id for f in listed.data] == [created.id] and listed.has_more is False
    assert client.files.content(created.id).content == JSONL
    assert client.files.delete(created.id).deleted is True
    client.close()


def test_openai_sdk_files(live_server):
    client = OpenAI(api_key=live_server.tenant.api_key, base_url=live_server.openai_base, max_retries=0)
    created = client.files.create(file=("chat.jsonl", JSONL), purpose="batch")
    assert client.files.retrieve(created.id).filename == "chat.jsonl"
    assert client.files.content(created.id).read() == JSONL
    assert [f.id for f in client.files.list()] == [created.id]
    assert client.files.delete(created.id).deleted is True
    client.close()
