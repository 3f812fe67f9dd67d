"""Added latency of billing + limits per request, vs both off, on the fake engine.

Starts two `openmaas serve` processes on loopback (fake engine, SQLite): one with billing
and limits on (the default), one with both off; then sends the same non-stream chat
request to each from one client, alternating in rounds, and prints p50/p99 for each and
the difference. Goal: < 2 ms added at p50.

    .venv/bin/python bench/billing_overhead.py --requests 600
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

FAKE = [{"name": "fake-chat", "engine": "fake", "aliases": ["glm-4"], "context_window": 2048}]
BODY = {"model": "glm-4", "messages": [{"role": "user", "content": "ping pong"}], "max_tokens": 8}
KEY = re.compile(r"^[0-9a-f]{32}\.\w+$", re.M)


def start(port: int, data_dir: Path, billing_on: bool) -> tuple[subprocess.Popen, str]:
    env = os.environ | {
        "OPENMAAS_DATA_DIR": str(data_dir),
        "OPENMAAS_MODELS": json.dumps(FAKE),
        "OPENMAAS_LOG_LEVEL": "warning",
        "OPENMAAS_SECRET_KEY": "bench",
    }
    if not billing_on:
        env |= {
            "OPENMAAS_BILLING": json.dumps({"enabled": False}),
            "OPENMAAS_LIMITS": json.dumps({"enabled": False}),
        }
    else:
        # prices fail closed: the served fake model needs a row (the default table keeps the rest)
        env |= {
            "OPENMAAS_LIMITS": json.dumps({"rpm_per_key": 10**6, "tpm_per_key": 10**9}),
            "OPENMAAS_BILLING": json.dumps({"prices": {"fake-chat": {"input_per_1k": "0.001"}}}),
        }
    log = data_dir / "server.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "openmaas.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = KEY.search(log.read_text())
        if found:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                return process, found.group(0)
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"server did not start:\n{log.read_text()}")


def timed(client: httpx.Client, url: str) -> float:
    began = time.perf_counter()
    response = client.post(url, json=BODY)
    elapsed = time.perf_counter() - began
    assert response.status_code == 200, response.text
    return elapsed * 1000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=600, help="per configuration")
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        servers = {}
        for port, name, on in ((18101, "billing+limits on", True), (18102, "both off", False)):
            data = Path(tmp) / name.replace(" ", "_").replace("+", "_")
            data.mkdir()
            servers[name] = (port, *start(port, data, on))
        try:
            clients = {
                name: httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30)
                for name, (_, _, key) in servers.items()
            }
            urls = {
                name: f"http://127.0.0.1:{port}/api/paas/v4/chat/completions"
                for name, (port, _, _) in servers.items()
            }
            samples: dict[str, list[float]] = {name: [] for name in servers}
            for i in range(args.warmup + args.requests):
                for name in servers:  # alternate so drift hits both equally
                    value = timed(clients[name], urls[name])
                    if i >= args.warmup:
                        samples[name].append(value)
        finally:
            for _, process, _ in servers.values():
                process.terminate()
                process.wait(10)
    print(f"{'configuration':<20}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for name, values in samples.items():
        print(
            f"{name:<20}{percentile(values, 0.5):>10.3f}{percentile(values, 0.99):>10.3f}"
            f"{statistics.mean(values):>10.3f}"
        )
    on, off = samples["billing+limits on"], samples["both off"]
    added50 = percentile(on, 0.5) - percentile(off, 0.5)
    added99 = percentile(on, 0.99) - percentile(off, 0.99)
    print(
        f"added by billing + limits: p50 {added50:+.3f} ms, p99 {added99:+.3f} ms "
        f"(goal p50 < 2 ms: {'met' if added50 < 2 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
