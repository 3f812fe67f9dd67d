"""bench/tool_endpoints.py --smoke runs every measured path once on the real weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_smoke(tmp_path):
    out = tmp_path / "results.json"
    env = os.environ | {"PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "tool_endpoints.py"), "--smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["ocr"]["pages_per_s"] > 0 and results["parser"]["scanned_pdf_pages_per_s"] > 0
    assert set(results["rerank"]["quality"]) == {"embedding", "lexical", "fusion", "cross-encoder"}
    assert results["tokenizer"]["endpoint_fake_engine_calls_per_s"] > 0  # the app starts as the bench sets it
    assert "rerank quality" in run.stdout
