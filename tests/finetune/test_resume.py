"""Durability: a job interrupted by a shutdown resumes from its checkpoint after a restart; a job
interrupted too often fails with the reason; none is left hanging in `running`."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from openmaas.app import create_app
from openmaas.store.tables import Job, Reservation, utcnow
from tests.conftest import add_tenant
from tests.finetune.conftest import FineTuneHarness, fact_dataset
from tests.sdk._support import wait_for


def harness(settings, client: TestClient) -> FineTuneHarness:
    services = client.app.state.services
    return FineTuneHarness(client, services, add_tenant(services), add_tenant(services, "other"))


def test_a_restart_resumes_training_from_the_checkpoint(ft_settings, database_url):
    settings = ft_settings(job_lease_seconds=1.0, database_url=database_url)
    settings.finetune.checkpoint_every = 2
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        ft = harness(settings, client)
        job_id = ft.create(ft.upload(fact_dataset()), hyperparameters={"n_epochs": 30}).json()["id"]
        wait_for(lambda: len([e for e in ft.events(job_id) if e["type"] == "metrics"]) >= 3, timeout=120)
        tenant = ft.tenant
    # the app shut down mid-training: the trainer saved a checkpoint, the job is still running
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        ft = FineTuneHarness(client, client.app.state.services, tenant, tenant)
        interrupted = ft.call("GET", f"/fine_tuning/jobs/{job_id}").json()
        assert interrupted["status"] in ("queued", "running")
        wait_for(
            lambda: any("Resuming from the checkpoint" in e["message"] for e in ft.events(job_id, 100)),
            timeout=120,
        )
        ft.call("POST", f"/fine_tuning/jobs/{job_id}/cancel")  # no need to train 240 steps
        messages = [e["message"] for e in ft.events(job_id, 100)]
    resumed = next(m for m in messages if "Resuming from the checkpoint" in m)
    checkpoint = int(resumed.rsplit(" ", 1)[1])
    assert checkpoint >= 3 and any("attempt 2" in m for m in messages)
    steps = [int(m.split()[1].split("/")[0]) for m in messages if m.startswith("Step ")]
    after = [s for s in steps if s > checkpoint]
    assert len(steps) == len(set(steps))  # no step ran twice: it went on where it stopped
    assert set(range(1, checkpoint + 1)) <= set(steps) and (not after or min(after) == checkpoint + 1)


def test_a_job_interrupted_too_often_fails_with_the_reason(ft_settings):
    settings = ft_settings()
    no_worker = settings.model_copy(update={"run_jobs_in_process": False})
    with TestClient(create_app(no_worker), raise_server_exceptions=False) as client:
        ft = harness(settings, client)
        job_id = ft.create(ft.upload(fact_dataset())).json()["id"]
        with ft.services.db.session() as session:  # three workers died holding it
            session.execute(
                sa.update(Job)
                .where(Job.id == job_id)
                .values(state="running", attempts=3, lease_until=utcnow() - timedelta(seconds=5))
            )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        ft = FineTuneHarness(client, client.app.state.services, ft.tenant, ft.other)
        job = ft.wait(job_id, timeout=30)
    assert job["status"] == "failed" and "interrupted 3 times" in job["error"]["message"]
    with ft.services.db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).where(Reservation.state == "held")) == 0
