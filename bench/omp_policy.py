"""OpenMP wait policy for the embedded engine: decode speed on an idle box and on a busy one.

llama.cpp runs each token's graph on an OpenMP thread team with a barrier after every
op. How the waiting threads wait decides the speed: spinning (libgomp's default spins up
to GOMP_SPINCOUNT iterations before sleeping) keeps barriers cheap when the cores are
free, but when anything else wants the CPU (a fine-tuning job, embeddings, ingestion,
another process) a spinning thread holds a core its team-mate needs and each barrier waits
for a time slice; PASSIVE sleeps at once (a futex wake per barrier). For each candidate this
runs bench/_raw_batch.py (the engine's own context, raw batch API) in a fresh process at 1
and 4 streams, first idle, then beside 1, 2 and 4 CPU-bound processes (`--busy`; plain
Python loops standing in for other work), and prints decode tok/s for each.

    .venv/bin/python bench/omp_policy.py
    .venv/bin/python bench/omp_policy.py --candidates PASSIVE,spin:1000 --busy 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from _server import DEFAULT_MODEL, loadavg, with_omp_wait_policy

HERE = Path(__file__).resolve().parent
BURN = "while True: pass"


def measure(candidate: str, model: Path, tokens: int) -> dict[int, float]:
    env = with_omp_wait_policy(dict(os.environ), candidate)
    out = subprocess.run(
        [
            sys.executable,
            str(HERE / "_raw_batch.py"),
            "--model",
            str(model),
            "--levels",
            "1,4",
            "--tokens",
            str(tokens),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return {int(k): v for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def measure_beside(burners: int, candidates: list[str], model: Path, tokens: int) -> dict:
    """Each candidate's decode tok/s while `burners` CPU-bound processes run."""
    procs = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(burners)]
    try:
        return {c: measure(c, model, tokens) for c in candidates}
    finally:
        for proc in procs:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--candidates",
        default="PASSIVE,default,spin:1000,spin:3000,spin:10000",
        help="PASSIVE, ACTIVE, default (libgomp's 3 ms spin) or spin:N (GOMP_SPINCOUNT=N)",
    )
    parser.add_argument("--busy", default="1,2,4", help="numbers of CPU-bound processes for the busy runs")
    parser.add_argument("--tokens", type=int, default=64, help="decoded tokens per stream, idle")
    parser.add_argument("--busy-tokens", type=int, default=32, help="decoded tokens per stream, busy")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args()
    candidates = args.candidates.split(",")
    levels = [int(n) for n in args.busy.split(",") if n]
    print(f"load average before: {loadavg()}", flush=True)
    rows = {0: {c: measure(c, args.model, args.tokens) for c in candidates}}
    print(f"load average after the idle runs: {loadavg()}", flush=True)
    for burners in levels:
        rows[burners] = measure_beside(burners, candidates, args.model, args.busy_tokens)
    header = "".join(
        f"{label + ' 1':>12}{label + ' 4':>12}" for label in ["idle"] + [f"busy({n})" for n in levels]
    )
    print(f"{'candidate':>12}{header}   (decode tok/s at 1 and 4 streams)")
    for c in candidates:
        print(f"{c:>12}" + "".join(f"{rows[n][c][1]:>12.1f}{rows[n][c][4]:>12.1f}" for n in rows))


if __name__ == "__main__":
    main()
