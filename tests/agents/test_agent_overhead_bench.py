"""bench/agent_overhead.py --smoke: the benchmark's wiring (all three surfaces answer alike)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "agent_overhead.py"


def test_smoke_run():
    out = subprocess.run([sys.executable, str(BENCH), "--smoke"], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(result["surfaces"]) == {"chat", "responses", "responses_nostore", "messages"}
    assert all(row["p50_ms"] > 0 for row in result["surfaces"].values())
