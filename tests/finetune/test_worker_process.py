"""`openmaas worker` in its own process runs the jobs a job-less server accepted; a cancel sent
to the server reaches its trainer through the database within seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from fastapi.testclient import TestClient

from openmaas.app import create_app
from tests.conftest import add_tenant
from tests.finetune.conftest import FineTuneHarness, fact_dataset
from tests.sdk._support import wait_for


def worker_env(settings) -> dict[str, str]:
    return os.environ | {
        "OPENMAAS_ENVIRONMENT": "test",
        "OPENMAAS_DATA_DIR": str(settings.data_dir),
        "OPENMAAS_DATABASE_URL": settings.resolved_database_url,
        "OPENMAAS_SECRET_KEY": "test-secret",
        "OPENMAAS_JOB_POLL_SECONDS": "0.05",
        "OPENMAAS_MODELS": json.dumps([m.model_dump(mode="json") for m in settings.models]),
        "OPENMAAS_EMBEDDINGS": settings.embeddings.model_dump_json(),
    }


def test_worker_process_trains_and_obeys_a_cancel_from_the_server(ft_settings):
    settings = ft_settings(run_jobs_in_process=False)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        services = client.app.state.services
        ft = FineTuneHarness(client, services, add_tenant(services), add_tenant(services, "other"))
        job_id = ft.create(ft.upload(fact_dataset()), hyperparameters={"n_epochs": 50}).json()["id"]
        time.sleep(1)
        assert ft.call("GET", f"/fine_tuning/jobs/{job_id}").json()["status"] == "validating_files"

        worker = subprocess.Popen(
            [sys.executable, "-m", "openmaas.cli", "worker"],
            env=worker_env(settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_for(
                lambda: [e for e in ft.events(job_id) if e["type"] == "metrics"], timeout=180, interval=0.1
            )
            assert ft.call("GET", f"/fine_tuning/jobs/{job_id}").json()["status"] == "running"
            cancelled_at = time.monotonic()
            assert ft.call("POST", f"/fine_tuning/jobs/{job_id}/cancel").json()["status"] == "cancelled"
            wait_for(
                lambda: any("Training stopped" in e["message"] for e in ft.events(job_id)),
                timeout=30,
                interval=0.1,
            )
            assert time.monotonic() - cancelled_at < 10
        finally:
            worker.send_signal(signal.SIGTERM)
            output, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0, output
        assert "worker stopped" in output
