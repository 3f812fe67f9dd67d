"""The benches without a --smoke flag of their own run end to end at their smallest sizes, so
none can rot unseen (two had stopped starting their server when prices began to fail closed).
Their figures at these sizes mean nothing; each is asserted only to finish and print its summary.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import assembled_default_model

ROOT = Path(__file__).resolve().parents[2]

# (script, arguments for the smallest run, a line its summary prints, needs the 0.5B GGUF)
SMALL_RUNS = [
    ("think_splitter.py", ["--smoke"], "worst total share of decode time", False),
    ("billing_overhead.py", ["--requests", "20", "--warmup", "5"], "added by billing + limits", False),
    ("retrieval_scale.py", ["--chunks", "500", "--real", "8", "--batch", "250"], "vec0 scan alone", False),
    (
        "embeddings_bench.py",
        ["--clients", "2", "--duration", "0.5", "--max-requests", "10", "--rounds", "1"],
        "throughput ratio batched / one-at-a-time",
        False,
    ),
    ("engine_overhead.py", ["--rounds", "1", "--max-tokens", "8", "--n-ctx", "512"], "SUMMARY decode", True),
    ("engine_scaling.py", ["--levels", "1,2", "--max-tokens", "8", "--repeat", "1"], "OpenMaaS/raw", True),
    ("batch_ceiling.py", ["--levels", "1,4", "--tokens", "2"], "most at 4 streams", True),
    ("engine_speed.py", ["--smoke"], "speculative decoding, served single-stream", True),
    ("prefill_stall.py", ["--smoke"], "A longest gap", True),
    ("omp_policy.py", ["--busy", "1", "--tokens", "4", "--busy-tokens", "4"], "spin:1000", True),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "script, arguments, summary, needs_gguf", SMALL_RUNS, ids=[run[0] for run in SMALL_RUNS]
)
def test_bench_runs_at_its_smallest_size(script, arguments, summary, needs_gguf):
    if needs_gguf:
        assembled_default_model()  # fails, naming the command, when the weights are missing
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert summary in done.stdout + done.stderr
