"""Finding 10 (security review 2026-12), the database part: resolving an `ft:` model name
(every chat request naming one, existing or not) and `GET /models` opened a write session
on the event loop. During any write contention the whole process froze with them.

Now fine-tuned names resolve from an in-memory snapshot refreshed in a thread: with the
database locked, resolution and model listing still answer at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from openmaas.app import create_app
from openmaas.errors import ModelNotFound
from openmaas.store.tables import FineTunedModel, utcnow
from tests.conftest import FAKE_MODEL, add_tenant


@contextmanager
def database_locked(services) -> Iterator[None]:
    """Another writer holds the lock (SQLite: this process's writer gate and the write lock;
    PostgreSQL: the fine-tuned model table, readers included)."""
    holder = services.db.engine.connect()
    holder.begin()
    if services.db.engine.dialect.name == "postgresql":
        holder.execute(sa.text("LOCK TABLE fine_tuned_models IN ACCESS EXCLUSIVE MODE"))
    else:
        holder.execute(sa.text("SELECT 1"))
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


def answers_within(seconds: float, call: Callable[[], object]) -> tuple[bool, object]:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:  # the answer may be an error: it only has to come
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return (not thread.is_alive()), (outcome[0] if outcome else None)


@pytest.fixture
def app(make_settings, database_url):
    with TestClient(
        create_app(make_settings(database_url=database_url)), raise_server_exceptions=False
    ) as client:
        yield client, client.app.state.services, add_tenant(client.app.state.services)


def resolve_on_loop(client, services, name: str, account_id: str):
    async def resolve():
        return services.catalog.resolve(name, account_id)

    return client.portal.call(resolve)


def test_ft_names_and_model_lists_answer_while_the_database_is_locked(app):
    client, services, tenant = app
    assert client.get("/v1/models", headers=tenant.headers).status_code == 200  # key cached, touched
    with database_locked(services):
        done, answer = answers_within(
            3.0, lambda: resolve_on_loop(client, services, "ft:glm-4:x:ftjob-nope", tenant.account_id)
        )
        assert done and isinstance(answer, ModelNotFound)
        done, listed = answers_within(3.0, lambda: client.get("/v1/models", headers=tenant.headers))
        assert done and listed.status_code == 200


def test_a_model_another_process_created_becomes_resolvable(app):
    client, services, tenant = app
    name = "ft:glm-4:mine:ftjob-elsewhere"
    with services.db.session() as session:  # as a worker process would register it
        session.add(
            FineTunedModel(
                name=name,
                account_id=tenant.account_id,
                base_model="glm-4",
                job_id="ftjob-elsewhere",
                adapter_path="/nonexistent",
                created_at=utcnow(),
            )
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            entry = resolve_on_loop(client, services, name, tenant.account_id)
            break
        except ModelNotFound:
            assert time.monotonic() < deadline, "the snapshot never picked the model up"
            time.sleep(0.1)
    assert entry.name == FAKE_MODEL  # the base model's config (glm-4 is its alias)
    with pytest.raises(ModelNotFound):
        resolve_on_loop(client, services, name, "acct_someone_else")
    ids = [m["id"] for m in client.get("/v1/models", headers=tenant.headers).json()["data"]]
    assert name in ids
