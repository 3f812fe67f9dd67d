"""Continuous batching through the full OpenMaaS path: aggregate decode tok/s at 1, 2, 4 and 8
concurrent streams vs one stream, and time-to-first-token under load.

Starts a server (bench/_server.py, as `openmaas serve`) on the packaged 0.5B with as many
engine slots as the highest level, in a subprocess, and streams
chat completions over HTTP (billing and limits on, as in production). Goal: >= 2x the
one-stream throughput at 4 streams (llama-cpp-python's own server serialises requests and
drops to 0.74x here).

    .venv/bin/python bench/engine_scaling.py --max-tokens 96
    .venv/bin/python bench/engine_scaling.py --peer   # + llama-cpp-python's own server, same run

After each round, with the server idle, the same level through llama.cpp's raw batch API in
a fresh process (bench/_raw_batch.py: decode steps only, no prefill, no sampling, no server)
— the ceiling this CPU allows, interleaved so that drifting load hits both, and printed
beside OpenMaaS's figures. OpenMaaS's aggregate counts from request start (prompt prefill
included), so it sits a little under the raw decode-only rate.

With --peer, the same rounds then run against llama-cpp-python's own server
(bench/_peer_llamacpp.py: same weights, threads, context window and OpenMP setting), and
the table gains its aggregate and OpenMaaS / peer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from _peer_llamacpp import LlamaCppServerPeer
from _server import (
    DEFAULT_MODEL,
    ServerProcess,
    loadavg,
    omp_argument,
    platform_omp_policy,
    raw_batch_rates,
)

TOPICS = [
    "a dragon",
    "the sea",
    "a robot",
    "a lighthouse",
    "a desert city",
    "a lost key",
    "a mountain village",
    "a clockmaker",
]


async def stream(
    client: httpx.AsyncClient, url: str, topic: str, max_tokens: int
) -> tuple[float, float, int]:
    prompt = f"Write a long story about {topic}."
    body = {
        "model": "glm-4",
        "stream": True,
        "max_tokens": max_tokens,
        "temperature": 0.01,
        "do_sample": False,
        "messages": [{"role": "user", "content": prompt}],
    }
    began, first, tokens, deltas = time.perf_counter(), None, 0, 0
    async with client.stream("POST", url, json=body) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[6:])
            content = chunk["choices"][0]["delta"].get("content") if chunk["choices"] else None
            if content:
                first = first or time.perf_counter()
                deltas += 1
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    # llama_cpp.server streams no usage; it sends one chunk per token
    return (first or time.perf_counter()) - began, time.perf_counter(), tokens or deltas


async def round_of(client, url: str, streams: int, max_tokens: int) -> tuple[float, list[float]]:
    began = time.perf_counter()
    results = await asyncio.gather(
        *[stream(client, url, TOPICS[i % len(TOPICS)], max_tokens) for i in range(streams)]
    )
    elapsed = max(end for _, end, _ in results) - began
    return sum(t for _, _, t in results) / elapsed, [ttft for ttft, _, _ in results]


async def rounds_at(
    client: httpx.AsyncClient,
    url: str,
    streams: int,
    max_tokens: int,
    repeat: int,
    after_round: Callable[[int], float] | None = None,
) -> tuple[float, float, float | None]:
    """`repeat` rounds at one level: (median tok/s, median TTFT s, median of `after_round`)."""
    rates, ttfts, afters = [], [], []
    for _ in range(repeat):
        rate, firsts = await round_of(client, url, streams, max_tokens)
        rates.append(rate)
        ttfts.extend(firsts)
        if after_round is not None:
            afters.append(after_round(streams))
    return statistics.median(rates), statistics.median(ttfts), statistics.median(afters) if afters else None


async def measure(
    base_url: str,
    key: str,
    levels: list[int],
    max_tokens: int,
    repeat: int,
    raw_round: Callable[[int], float],
) -> dict:
    """Per level, `repeat` rounds through the server, each followed by a raw-ceiling round at
    the same level (the server idle meanwhile), so drifting load hits both sides alike."""
    url = f"{base_url}/api/paas/v4/chat/completions"
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=600) as client:
        await round_of(client, url, 1, 8)  # warm-up
        return {n: await rounds_at(client, url, n, max_tokens, repeat, raw_round) for n in levels}


async def measure_peer(base_url: str, levels: list[int], max_tokens: int, repeat: int) -> dict:
    """The same rounds against llama-cpp-python's server: {streams: (tok/s, TTFT p50 s, None)}."""
    url = f"{base_url}/v1/chat/completions"
    async with httpx.AsyncClient(timeout=600) as client:
        await round_of(client, url, 1, 8)  # warm-up
        return {n: await rounds_at(client, url, n, max_tokens, repeat) for n in levels}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", default="1,2,4,8")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--omp-wait-policy",
        type=omp_argument,
        metavar="PASSIVE|ACTIVE|default|spin:N",
        default=platform_omp_policy(),
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument(
        "--peer", action="store_true", help="also run the rounds against llama-cpp-python's own server"
    )
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    print(f"load average before: {loadavg()}")
    print(f"OpenMP={args.omp_wait_policy}")
    with ServerProcess(
        "llamacpp",
        model_path=args.model,
        n_ctx=1024,
        parallel=max(levels),
        start_timeout=300,
        omp_wait_policy=args.omp_wait_policy,
    ) as server:

        def raw_round(n: int) -> float:
            return raw_batch_rates(args.model, [n], args.max_tokens, args.omp_wait_policy)[n]

        table = asyncio.run(
            measure(server.base_url, server.api_key, levels, args.max_tokens, args.repeat, raw_round)
        )
    peer = {}
    if args.peer:
        with LlamaCppServerPeer(
            args.model, threads=2, n_ctx=1024, omp_wait_policy=args.omp_wait_policy
        ) as server:
            peer = asyncio.run(measure_peer(server.base_url, levels, args.max_tokens, args.repeat))
    print(f"load average after: {loadavg()}")
    print_table(table, peer, levels)


def print_table(table: dict, peer: dict, levels: list[int]) -> None:
    base, _, raw_base = table[levels[0]]
    peer_head = f"{'peer tok/s':>12}{'peer vs 1':>11}{'peer TTFT':>11}{'OpenMaaS/peer':>15}" if peer else ""
    print(
        f"{'streams':>8}{'aggregate tok/s':>18}{'vs 1 stream':>14}{'TTFT p50 ms':>14}"
        f"{'raw tok/s':>12}{'raw vs 1':>10}{'OpenMaaS/raw':>14}{peer_head}"
    )
    for streams, (rate, ttft, raw) in table.items():
        cells = ""
        if peer:
            peer_rate, peer_ttft, _ = peer[streams]
            cells = (
                f"{peer_rate:>12.1f}{peer_rate / peer[levels[0]][0]:>10.2f}x"
                f"{peer_ttft * 1000:>11.0f}{rate / peer_rate:>15.2f}"
            )
        print(
            f"{streams:>8}{rate:>18.1f}{rate / base:>13.2f}x{ttft * 1000:>14.0f}"
            f"{raw:>12.1f}{raw / raw_base:>9.2f}x{rate / raw:>14.2f}{cells}"
        )
    if 4 in table:
        ratio = table[4][0] / base
        print(
            f"4 streams: {ratio:.2f}x one stream (goal >= 2x: {'met' if ratio >= 2 else 'MISSED'}); "
            f"llama.cpp's raw batch API on this machine: {table[4][2] / raw_base:.2f}x"
        )
        if peer:
            print(
                f"llama-cpp-python's server at 4 streams: {peer[4][0] / peer[levels[0]][0]:.2f}x its one "
                f"stream; OpenMaaS decodes {table[4][0] / peer[4][0]:.2f}x its aggregate"
            )


if __name__ == "__main__":
    main()
