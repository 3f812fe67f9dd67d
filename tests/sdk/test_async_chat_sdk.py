"""Async chat through the zhipuai SDK: submit, poll, strict result shape, durability, tenancy."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
import zhipuai
from zhipuai import ZhipuAI
from zhipuai.types.chat.async_chat_completion import AsyncCompletion, AsyncTaskStatus

from openmaas.store.db import Database
from openmaas.store.tables import Job, utcnow
from tests.conftest import add_tenant, start_live_server
from tests.sdk._support import job_row, wait_for

HELLO = [{"role": "user", "content": "hello durable world"}]


def client_for(server, api_key: str) -> ZhipuAI:
    return ZhipuAI(api_key=api_key, base_url=server.zhipu_base, max_retries=0)


def poll_success(client: ZhipuAI, task_id: str, timeout: float = 15.0) -> AsyncCompletion:
    def done():
        result = client.chat.asyncCompletions.retrieve_completion_result(task_id)
        assert result.task_status in ("PROCESSING", "SUCCESS"), result
        return result if result.task_status == "SUCCESS" else None

    return wait_for(done, timeout=timeout, interval=0.05)


def test_submit_then_poll_until_success(engine, zhipu):
    engine.enqueue("async answer here")
    task = zhipu.chat.asyncCompletions.create(model="glm-4", messages=HELLO, request_id="async-req-1")
    assert isinstance(task, AsyncTaskStatus)
    assert task.task_status == "PROCESSING" and task.id and task.model == "glm-4"
    assert task.request_id == "async-req-1"

    result = poll_success(zhipu, task.id)
    assert isinstance(result, AsyncCompletion)  # the strict union parse succeeded (§1.4)
    assert result.id == task.id and result.request_id == "async-req-1"
    choice = result.choices[0]
    assert choice.message.content == "async answer here"  # an attribute, not a raw dict
    assert choice.finish_reason == "stop" and choice.index == 0
    assert result.usage.completion_tokens == 3
    assert result.usage.total_tokens == result.usage.prompt_tokens + 3


def test_async_submit_validates_before_queueing(sdk_server, tenant, zhipu):
    for kwargs, code in (
        ({"model": "no-such-model", "messages": HELLO}, "1211"),
        ({"model": "glm-4", "messages": [{"role": "user", "content": "w " * 400}]}, "1261"),
    ):
        with pytest.raises(zhipuai.APIRequestFailedError) as caught:
            zhipu.chat.asyncCompletions.create(**kwargs)
        assert caught.value.response.json()["error"]["code"] == code
    with sdk_server.services.db.session() as session:
        queued = sa.select(sa.func.count()).select_from(Job).where(Job.account_id == tenant.account_id)
        assert session.scalar(queued) == 0


def test_unknown_task_is_404(zhipu):
    with pytest.raises(zhipuai.APIStatusError) as caught:
        zhipu.chat.asyncCompletions.retrieve_completion_result("20240101000000deadbeefdeadbeef")
    assert caught.value.status_code == 404


def test_another_account_cannot_read_the_task(sdk_server, engine, zhipu):
    task = zhipu.chat.asyncCompletions.create(model="glm-4", messages=HELLO)
    poll_success(zhipu, task.id)
    other = add_tenant(sdk_server.services, "someone-else")
    intruder = client_for(sdk_server, other.api_key)
    try:
        with pytest.raises(zhipuai.APIStatusError) as caught:
            intruder.chat.asyncCompletions.retrieve_completion_result(task.id)
    finally:
        intruder.close()
    assert caught.value.status_code == 404
    assert "async answer" not in caught.value.response.text
    assert "Echo" not in caught.value.response.text


def test_result_survives_a_restart(make_settings):
    settings = make_settings()
    first = start_live_server(settings)
    try:
        first.services.catalog.resolve("fake-chat").engine.enqueue("written before the restart")
        client = client_for(first, first.tenant.api_key)
        task = client.chat.asyncCompletions.create(model="glm-4", messages=HELLO)
        poll_success(client, task.id)
        client.close()
    finally:
        first.stop()
    assert not first.thread.is_alive()

    second = start_live_server(settings)  # same SQLite file, same data_dir, same secret
    try:
        client = client_for(second, first.tenant.api_key)
        result = client.chat.asyncCompletions.retrieve_completion_result(task.id)
        client.close()
    finally:
        second.stop()
    assert isinstance(result, AsyncCompletion)
    assert result.choices[0].message.content == "written before the restart"
    assert second.services.catalog.resolve("fake-chat").engine.generations == 0


def test_job_of_a_dead_worker_runs_again_after_restart(make_settings):
    settings = make_settings(run_jobs_in_process=False)  # nobody runs it on the first server
    first = start_live_server(settings)
    try:
        client = client_for(first, first.tenant.api_key)
        task = client.chat.asyncCompletions.create(model="glm-4", messages=HELLO)
        client.close()
        assert job_row(first.services, task.id).state == "queued"
    finally:
        first.stop()

    # Make it look claimed by a worker that died mid-job: running, lease lapsed.
    db = Database(settings.resolved_database_url)
    with db.session() as session:
        session.execute(
            sa.update(Job)
            .where(Job.id == task.id)
            .values(
                state="running",
                worker_id="dead-host:4242:abcdef",
                attempts=1,
                lease_until=utcnow() - timedelta(seconds=30),
            )
        )
    db.dispose()

    second = start_live_server(settings.model_copy(update={"run_jobs_in_process": True}))
    try:
        client = client_for(second, first.tenant.api_key)
        result = poll_success(client, task.id)
        client.close()
        job = job_row(second.services, task.id)
    finally:
        second.stop()
    assert result.choices[0].message.content == "Echo: hello durable world"
    assert job.state == "succeeded" and job.attempts == 2
    assert job.worker_id == second.services.jobs.worker_id != "dead-host:4242:abcdef"


def test_a_job_retried_after_its_charge_succeeds_charged_once(make_settings):
    """Killed after its usage was charged but before its result was stored: the job is
    claimed again, recognises its own request id's charge, and ends SUCCESS, not 1231."""
    settings = make_settings(run_jobs_in_process=False)
    first = start_live_server(settings)
    try:
        client = client_for(first, first.tenant.api_key)
        task = client.chat.asyncCompletions.create(model="glm-4", messages=HELLO, request_id="paid-once")
        client.close()
        billing, account = first.services.billing, first.tenant.account_id
        hold = billing.reserve(account, None, "paid-once", "glm-4", "fake-chat", 10, 20, False)
        with billing.db.session() as session:  # what the first attempt charged
            billing.settle(session, hold.reservation_id, 10, 5)
        with first.services.db.session() as session:  # ...then it died: lease lapsed
            session.execute(
                sa.update(Job)
                .where(Job.id == task.id)
                .values(
                    state="running",
                    worker_id="dead-host:4242:abcdef",
                    attempts=1,
                    lease_until=utcnow() - timedelta(seconds=30),
                )
            )
        before = billing.balance(account)
    finally:
        first.stop()

    second = start_live_server(settings.model_copy(update={"run_jobs_in_process": True}))
    try:
        client = client_for(second, first.tenant.api_key)
        result = poll_success(client, task.id)
        client.close()
        after = second.services.billing.balance(account)
        problems = second.services.billing.reconcile(account)
    finally:
        second.stop()
    assert result.request_id == "paid-once"
    assert result.choices[0].message.content == "Echo: hello durable world"
    assert (after.cash_micro, after.held_micro, after.packs) == (before.cash_micro, 0, before.packs)
    assert problems == []


def test_job_with_a_live_lease_is_not_stolen(make_settings):
    settings = make_settings(run_jobs_in_process=False)
    first = start_live_server(settings)
    try:
        client = client_for(first, first.tenant.api_key)
        task = client.chat.asyncCompletions.create(model="glm-4", messages=HELLO)
        client.close()
        with first.services.db.session() as session:
            session.execute(
                sa.update(Job)
                .where(Job.id == task.id)
                .values(
                    state="running",
                    worker_id="busy-host:1:aaaaaa",
                    attempts=1,
                    lease_until=utcnow() + timedelta(minutes=5),
                )
            )
    finally:
        first.stop()

    second = start_live_server(settings.model_copy(update={"run_jobs_in_process": True}))
    try:
        client = client_for(second, first.tenant.api_key)
        engine = second.services.catalog.resolve("fake-chat").engine
        for _ in range(5):  # several poll intervals of the in-process worker
            assert (
                client.chat.asyncCompletions.retrieve_completion_result(task.id).task_status == "PROCESSING"
            )
            time.sleep(0.1)
        client.close()
        job = job_row(second.services, task.id)
    finally:
        second.stop()
    assert engine.generations == 0
    assert (job.state, job.worker_id, job.attempts) == ("running", "busy-host:1:aaaaaa", 1)
