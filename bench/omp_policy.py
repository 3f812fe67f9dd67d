"""OpenMP wait policy for the embedded engine: decode speed on an idle box and on a busy one.

llama.cpp runs each token's graph on an OpenMP thread team with a barrier after every
op. How the waiting threads wait decides the speed: spinning (libgomp's default spins up
to GOMP_SPINCOUNT iterations before sleeping) keeps barriers cheap when the cores are
free, but when anything else wants the CPU (a fine-tuning job, embeddings, ingestion,
another process) a spinning thread holds a core its team-mate needs and each barrier waits
for a time slice; PASSIVE sleeps at once (a futex wake per barrier). For each candidate this
runs bench/_raw_batch.py (the engine's own context, raw batch API) in a fresh process at 1
and 4 streams, first idle, then beside `--busy` CPU-bound processes (plain Python loops
standing in for other work), and prints decode tok/s for each.

    .venv/bin/python bench/omp_policy.py
    .venv/bin/python bench/omp_policy.py --candidates PASSIVE,default,spin:1000 --busy 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from _server import DEFAULT_MODEL, loadavg

HERE = Path(__file__).resolve().parent
BURN = "while True: pass"


def environment(candidate: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    if candidate.startswith("spin:"):
        env["GOMP_SPINCOUNT"] = candidate.split(":", 1)[1]
    elif candidate != "default":
        env["OMP_WAIT_POLICY"] = candidate
    return env


def measure(candidate: str, model: Path, tokens: int) -> dict[int, float]:
    out = subprocess.run([sys.executable, str(HERE / "_raw_batch.py"), "--model", str(model),
                          "--levels", "1,4", "--tokens", str(tokens)],
                         capture_output=True, text=True, env=environment(candidate), check=True)
    return {int(k): v for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", default="PASSIVE,default,spin:1000,spin:10000")
    parser.add_argument("--busy", type=int, default=2, help="CPU-bound processes for the busy runs")
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args()
    candidates = args.candidates.split(",")
    print(f"load average before: {loadavg()}", flush=True)
    idle = {c: measure(c, args.model, args.tokens) for c in candidates}
    print(f"load average after the idle runs: {loadavg()}", flush=True)
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(args.busy)]
    try:
        busy = {c: measure(c, args.model, max(8, args.tokens // 4)) for c in candidates}
    finally:
        for burner in burners:
            burner.kill()
    print(f"{'candidate':>14}{'idle 1 stream':>15}{'idle 4 streams':>16}"
          f"{f'busy({args.busy}) 1':>14}{f'busy({args.busy}) 4':>14}   (decode tok/s)")
    for c in candidates:
        print(f"{c:>14}{idle[c][1]:>15.1f}{idle[c][4]:>16.1f}{busy[c][1]:>14.1f}{busy[c][4]:>14.1f}")


if __name__ == "__main__":
    main()
