"""The eval harnesses' --smoke modes run (bench/tool_calling.py, bench/knowledge_answers.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from openmaas.catalog import weights
from openmaas.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, timeout: int) -> str:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_tool_calling_smoke():
    package = weights.package_for("qwen2.5-coder-0.5b-instruct-q4_k_m")
    if not weights.is_assembled(Settings().models_dir, package):
        pytest.skip("0.5B weights not assembled")
    out = run_bench("tool_calling.py", 600)
    assert "auto (API default)" in out and "GOALS" in out


def test_knowledge_answers_smoke():
    out = run_bench("knowledge_answers.py", 600)
    assert "recall@5" in out and "HTTP 5xx: 0" in out
