"""Added latency of the agent surfaces over /v1/chat/completions, on the fake engine.

Starts one `openmaas serve`-equivalent (bench/_server.py: fake engine, SQLite, billing on)
and sends the same one-turn question, non-stream, through /v1/chat/completions,
/v1/responses (store on, the default: a row written per call; and store off) and /v1/messages, one after
the other in rounds from one client; prints p50/p99 per surface and the difference to chat,
and the server process's CPU per request per surface (robust to other load).
Goal: Responses and Messages add < 1 ms at p50.

    .venv/bin/python bench/agent_overhead.py --requests 400
    .venv/bin/python bench/agent_overhead.py --smoke      # a few requests, checks the wiring (tests)
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import OtherLoad, ServerProcess, cpu_seconds_of  # noqa: E402

QUESTION = "ping pong"
SURFACES = {
    "chat": (
        "/v1/chat/completions",
        {"model": "glm-4", "max_tokens": 8, "messages": [{"role": "user", "content": QUESTION}]},
    ),
    "responses": ("/v1/responses", {"model": "glm-4", "max_output_tokens": 8, "input": QUESTION}),
    "responses_nostore": (
        "/v1/responses",
        {"model": "glm-4", "max_output_tokens": 8, "input": QUESTION, "store": False},
    ),
    "messages": (
        "/v1/messages",
        {"model": "glm-4", "max_tokens": 8, "messages": [{"role": "user", "content": QUESTION}]},
    ),
}


def answer_text(surface: str, body: dict) -> str:
    if surface == "chat":
        return body["choices"][0]["message"]["content"]
    if surface.startswith("responses"):
        return body["output"][0]["content"][0]["text"]
    return body["content"][0]["text"]


def timed(client: httpx.Client, surface: str) -> float:
    path, body = SURFACES[surface]
    began = time.perf_counter()
    response = client.post(path, json=body)
    elapsed = time.perf_counter() - began
    assert response.status_code == 200, response.text
    assert answer_text(surface, response.json()) == f"Echo: {QUESTION}", response.text
    return elapsed * 1000


def measure(base_url: str, api_key: str, requests: int, warmup: int) -> dict[str, list[float]]:
    headers = {"Authorization": f"Bearer {api_key}"}
    timings: dict[str, list[float]] = {name: [] for name in SURFACES}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for _ in range(warmup):
            for surface in SURFACES:
                timed(client, surface)
        order = list(SURFACES)
        shuffle = random.Random(7).shuffle
        for _ in range(requests):  # interleaved: drift on the machine hits every surface alike; the
            shuffle(order)  # order shuffled, as one surface's deferred work (the store's
            for surface in order:  # batched writes, usage rows) lands on whichever request follows
                timings[surface].append(timed(client, surface))
    return timings


def server_cpu(base_url: str, api_key: str, pid: int, requests: int, blocks: int = 8) -> dict[str, float]:
    """CPU ms of the server process (all threads: the event loop, the database writes in the
    thread pool) per request, per surface: sent in blocks that rotate the surfaces' order. Far
    less sensitive to other load on the machine than wall time."""
    stat = Path(f"/proc/{pid}/stat")
    spent: dict[str, float] = dict.fromkeys(SURFACES, 0.0)
    per_block = max(1, requests // blocks)
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        order = list(SURFACES)
        for block in range(blocks):
            for surface in order[block % len(order) :] + order[: block % len(order)]:
                before = cpu_seconds_of(stat)
                for _ in range(per_block):
                    timed(client, surface)
                spent[surface] += cpu_seconds_of(stat) - before
    return {surface: round(seconds * 1000 / (per_block * blocks), 3) for surface, seconds in spent.items()}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(timings: dict[str, list[float]]) -> dict:
    chat_p50 = statistics.median(timings["chat"])
    rows = {}
    for surface, values in timings.items():
        p50 = statistics.median(values)
        rows[surface] = {
            "p50_ms": round(p50, 3),
            "p99_ms": round(percentile(values, 0.99), 3),
            "added_p50_ms": round(p50 - chat_p50, 3),
        }
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per surface")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--smoke", action="store_true", help="5 requests per surface, no verdict")
    args = parser.parse_args(argv)
    requests, warmup = (5, 2) if args.smoke else (args.requests, args.warmup)
    load = OtherLoad()
    with ServerProcess("fake", n_ctx=2048, max_output_tokens=64) as server:
        timings = measure(server.base_url, server.api_key, requests, warmup)
        cpu = server_cpu(server.base_url, server.api_key, server.pid, requests)
    rows = report(timings)
    for surface, row in rows.items():
        row["server_cpu_ms"] = cpu[surface]
        row["added_cpu_ms"] = round(cpu[surface] - cpu["chat"], 3)
        print(
            f"{surface:18s} p50 {row['p50_ms']:7.3f} ms  p99 {row['p99_ms']:7.3f} ms  "
            f"added p50 {row['added_p50_ms']:+.3f} ms  server CPU/req {row['server_cpu_ms']:.3f} ms "
            f"({row['added_cpu_ms']:+.3f})"
        )
    print(load.verdict())
    print(json.dumps({"requests": requests, "surfaces": rows}))
    if args.smoke:
        return 0
    over = [s for s in ("responses", "messages") if rows[s]["added_p50_ms"] >= 1.0]
    # the wall-time verdict is only as good as the machine is quiet (see the load line above)
    print("goal (< 1 ms added at p50):", "MET" if not over else f"MISSED by {', '.join(over)}")
    return 0 if not over else 1


if __name__ == "__main__":
    raise SystemExit(main())
