"""Garbage-collector tuning once the server has started (app.py), in a fresh process: the
test suite itself runs with it off, since its apps come and go in one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = """
import gc, json, sys
from fastapi.testclient import TestClient
from openmaas.app import create_app
from openmaas.config import Settings
from tests.conftest import with_fake_prices, fake_embeddings, fake_models
default_young = gc.get_threshold()[0]
settings = with_fake_prices(Settings(environment="test", data_dir=sys.argv[1], database_url=f"sqlite:///{sys.argv[1]}/db.sqlite",
                    models=fake_models(), embeddings=fake_embeddings(), secret_key="s",
                    gc_young_threshold=int(sys.argv[2])))
with TestClient(create_app(settings)) as client:
    assert client.get("/health").status_code == 200
    young, frozen = gc.get_threshold()[0], gc.get_freeze_count()
    print(json.dumps({"default": default_young, "young": young, "frozen": frozen}))
"""


def started(tmp_path, young: int) -> dict:
    env = dict(os.environ, OPENMAAS_GC_FREEZE_AFTER_START="true")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), str(young)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=os.getcwd(),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_start_up_heap_is_frozen_and_young_collections_are_spaced(tmp_path):
    tuned = started(tmp_path / "a", 50_000)
    assert tuned["frozen"] > 10_000 and tuned["young"] == 50_000 != tuned["default"]
    kept = started(tmp_path / "b", 0)
    assert kept["young"] == kept["default"]
