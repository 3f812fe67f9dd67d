"""The two-account tenancy matrix (security review, section B): account B, holding a manage key
(its most powerful non-admin credential), tries every id-taking route with account A's ids, and
every id carried in a request body; none may read, change or use A's objects (404/400/403,
never 2xx), and A's objects are intact afterwards. SQLite, in-process, fake engine.

The routes are enumerated from the app itself, so a new id-taking route is covered (or the
test fails, asking for its id) as soon as it is added.
"""

from __future__ import annotations

import json
import re
import time

from fastapi.routing import APIRoute
from sqlalchemy import select

from openmaas.store.tables import FineTunedModel, FineTuningJob, UsageRecord
from tests.conftest import add_tenant

V4 = "/api/paas/v4"
CHAT = {"model": "glm-4", "messages": [{"role": "user", "content": "hi"}]}
# admin routes take ids of any account by design (B is refused them as a non-admin: 403);
# image names are capabilities, not account-scoped ids (finding 20 keeps them out of logs)
NOT_TENANT_SCOPED = re.compile(r"^/api/platform/admin/|/images/files/|^/console/(?!api/)")


def a_objects(harness) -> dict[str, str]:
    client, A = harness.client, harness.tenant.headers
    harness.fake_engine().enqueue("ok")
    line = json.dumps({"custom_id": "1", "method": "POST", "url": "/v4/chat/completions", "body": CHAT})
    batch_file = client.post(
        f"{V4}/files", headers=A, data={"purpose": "batch"}, files={"file": ("a.jsonl", line.encode())}
    ).json()["id"]
    train = json.dumps(
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    )
    train_file = client.post(
        f"{V4}/files",
        headers=A,
        data={"purpose": "fine-tune"},
        files={"file": ("t.jsonl", (train + "\n") * 10)},
    ).json()["id"]
    kb = client.post(f"{V4}/knowledge", headers=A, json={"name": "secret kb", "embedding_id": 3}).json()["id"]
    doc = client.post(
        f"{V4}/files",
        headers=A,
        data={"purpose": "retrieval", "knowledge_id": kb},
        files={"file": ("s.txt", b"the launch code is 1234")},
    ).json()
    doc = doc["successInfos"][0]["documentId"]
    batch = client.post(
        f"{V4}/batches", headers=A, json={"input_file_id": batch_file, "endpoint": "/v4/chat/completions"}
    ).json()["id"]
    task = client.post(f"{V4}/async/chat/completions", headers=A, json=CHAT).json()["id"]
    wait_until(
        lambda: client.get(f"{V4}/document/{doc}", headers=A).json().get("embedding_stat") == 1 or True
    )
    trace = client.post(
        f"{V4}/knowledge/retrieve", headers=A, json={"query": "launch code", "knowledge_id": kb}
    ).json()["request_id"]
    job, model = a_fine_tune(harness, train_file)  # rows: the fake catalog has no trainable model
    key = client.post("/api/platform/keys", headers=harness.tenant.manage_headers, json={"name": "k"}).json()[
        "id"
    ]
    assistant = client.post(
        f"{V4}/assistants", headers=A, json={"name": "secret helper", "model": "glm-4"}
    ).json()["id"]
    harness.fake_engine().enqueue("stored answer")
    response = client.post("/v1/responses", headers=A, json={"model": "glm-4", "input": "hi"}).json()["id"]
    return {
        "file_id": batch_file,
        "knowledge_id": kb,
        "document_id": doc,
        "batch_id": batch,
        "task_id": task,
        "request_id": trace,
        "job_id": job,
        "key_id": key,
        "model": model,
        "train_file": train_file,
        "assistant_id": assistant,
        "response_id": response,
        "format_type": "text",
        "usage_id": a_usage_id(harness),
    }


def a_usage_id(harness) -> str:
    """The id of one of A's usage rows (the console's request detail takes it)."""
    with harness.services.db.session() as session:
        row = session.scalars(
            select(UsageRecord.id).where(UsageRecord.account_id == harness.tenant.account_id).limit(1)
        ).one()
    return str(row)


def a_fine_tune(harness, train_file: str) -> tuple[str, str]:
    account_id = harness.tenant.account_id
    name = "ft:fake-chat:secret:ftjob-a"
    with harness.services.db.session() as session:
        session.add(
            FineTuningJob(
                id="ftjob-a",
                account_id=account_id,
                model="glm-4",
                base_model="fake-chat",
                training_file=train_file,
                status="succeeded",
                fine_tuned_model=name,
            )
        )
        session.add(
            FineTunedModel(
                name=name,
                account_id=account_id,
                base_model="fake-chat",
                job_id="ftjob-a",
                adapter_path="/nonexistent/adapter.gguf",
            )
        )
    harness.services.finetune.models.refresh()  # written behind the service's back: reload
    return "ftjob-a", name


def wait_until(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def all_routes(routes, prefix: str = "") -> list[tuple[str, str]]:
    """(method, full path) of every API route, through included routers."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found += [(m, prefix + route.path) for m in sorted(route.methods - {"HEAD", "OPTIONS"})]
        elif hasattr(route, "include_context"):  # FastAPI's lazily included router
            found += all_routes(route.original_router.routes, prefix + route.include_context.prefix)
    return found


def id_routes(app) -> list[tuple[str, str]]:
    return sorted(
        {
            (method, path)
            for method, path in all_routes(app.routes)
            if "{" in path and not NOT_TENANT_SCOPED.search(path)
        }
    )


def body_for(method: str, path: str, ids: dict[str, str]) -> dict | None:
    """A valid body for the writes, so that only ownership can refuse them."""
    if method == "PUT" and path.endswith("/knowledge/{knowledge_id}"):
        return {"id": ids["knowledge_id"], "embedding_id": 3, "name": "renamed by bob"}
    if method == "PUT" and path.endswith("/document/{document_id}"):
        return {"knowledge_type": 1, "sentence_size": 300}
    if method == "PUT" and path.endswith("/keys/{key_id}/limits"):
        return {"monthly_budget": 1, "rpm_limit": 1}
    return None


def test_b_cannot_reach_a_through_any_id_taking_route(harness):
    ids = a_objects(harness)
    B = add_tenant(harness.services, "bob").manage_headers
    routes = id_routes(harness.client.app)
    assert len(routes) >= 25, routes
    results = []
    for method, path in routes:
        params = re.findall(r"{(\w+)}", path)
        missing = [p for p in params if p not in ids]
        assert not missing, f"give the matrix an id for {missing} ({method} {path})"
        url = path
        for p in params:
            url = url.replace("{" + p + "}", ids[p])
        response = harness.client.request(method, url, headers=B, json=body_for(method, path, ids))
        results.append((response.status_code, method, url))
    leaked = [r for r in results if r[0] < 400 or r[0] >= 500]
    assert leaked == [], leaked
    assert [r for r in results if r[0] != 404] == []  # unknown, as a missing id
    assert_a_intact(harness, ids)


def test_b_cannot_use_a_s_ids_inside_request_bodies(harness):
    ids = a_objects(harness)
    B = add_tenant(harness.services, "bob").manage_headers
    client = harness.client
    harness.fake_engine().enqueue("I know nothing")
    bodies = [
        ("POST", f"{V4}/knowledge/retrieve", {"query": "launch code", "knowledge_id": ids["knowledge_id"]}),
        ("POST", f"{V4}/batches", {"input_file_id": ids["file_id"], "endpoint": "/v4/chat/completions"}),
        ("POST", f"{V4}/fine_tuning/jobs", {"model": "glm-4", "training_file": ids["train_file"]}),
        (
            "POST",
            f"{V4}/fine_tuning/jobs",
            {"model": "glm-4", "training_file": ids["train_file"], "validation_file": ids["train_file"]},
        ),
        ("POST", f"{V4}/chat/completions", {**CHAT, "model": ids["model"]}),
        ("POST", "/v1/chat/completions", {**CHAT, "model": ids["model"]}),
        ("POST", f"{V4}/files", None),  # a document into A's knowledge base
    ]
    for method, url, body in bodies:
        if body is None:
            response = client.post(
                url,
                headers=B,
                files={"file": ("x.txt", b"planted")},
                data={"purpose": "retrieval", "knowledge_id": ids["knowledge_id"]},
            )
        else:
            response = client.request(method, url, headers=B, json=body)
        assert response.status_code in (400, 404), (url, body, response.status_code, response.text[:300])
    tool = client.post(
        f"{V4}/chat/completions",
        headers=B,
        json={**CHAT, "tools": [{"type": "retrieval", "retrieval": {"knowledge_id": ids["knowledge_id"]}}]},
    )
    assert tool.status_code in (400, 404), tool.text
    assert "1234" not in tool.text
    assert_a_intact(harness, ids)


def assert_a_intact(harness, ids: dict[str, str]) -> None:
    client, A = harness.client, harness.tenant.headers
    assert client.get(f"{V4}/files/{ids['file_id']}", headers=A).status_code == 200
    knowledge = client.get(f"{V4}/knowledge/{ids['knowledge_id']}", headers=A)
    assert knowledge.status_code == 200 and knowledge.json()["name"] == "secret kb"
    assert client.get(f"{V4}/document/{ids['document_id']}", headers=A).status_code == 200
    assert client.get(f"{V4}/batches/{ids['batch_id']}", headers=A).status_code == 200
    assert client.get(f"{V4}/fine_tuning/jobs/{ids['job_id']}", headers=A).json()["status"] == "succeeded"
    models = client.get(f"{V4}/models", headers=A).json()["data"]
    assert ids["model"] in {m["id"] for m in models}
    keys = client.get("/api/platform/keys", headers=harness.tenant.manage_headers).json()["data"]
    assert ids["key_id"] in {k["id"] for k in keys}
    a_key = next(k for k in keys if k["id"] == ids["key_id"])
    assert a_key["rpm_limit"] is None  # B's PUT of limits changed nothing
