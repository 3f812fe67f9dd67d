"""Chunked prefill (issue #23 item 4): how long a running stream stalls when a long prompt
arrives, and what that costs the long prompt's time to first token.

For each setting of the model option `prefill_step_ms` (while others decode, a step prefills
only the prompt tokens that fit in that many ms; "none": a whole 512-token batch at once), on a
fresh served model (HTTP, billing on) in one run: stream A writes a story; once A has
streamed a few tokens, request B arrives with a ~3,200-token prompt. Printed: A's longest and
p95 gap between tokens while B prefills, A's decode tok/s, and B's TTFT.

    .venv/bin/python bench/prefill_stall.py                       # 1.5B: none, 250, 500 ms
    .venv/bin/python bench/prefill_stall.py --model 0.5b --settings none,200
    .venv/bin/python bench/prefill_stall.py --smoke               # seconds: 0.5B, none and 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import dataclass

import httpx
from _server import ServerProcess, loadavg
from _weights import model_file
from engine_speed import MODELS_DIR

LONG_PROMPT_WORDS = 1100  # ~3,200 tokens ("word12" is three)


@dataclass
class Stall:
    setting: str
    longest_gap_ms: float
    p95_gap_ms: float
    a_rate: float
    b_ttft_ms: float


async def stream_times(
    client: httpx.AsyncClient, body: dict, started: asyncio.Event | None = None
) -> list[float]:
    """Arrival time of each content chunk."""
    times: list[float] = []
    async with client.stream("POST", "/api/paas/v4/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: {"):
                continue
            choices = json.loads(line[6:])["choices"]
            if choices and choices[0]["delta"].get("content"):
                times.append(time.perf_counter())
                if started is not None and len(times) == 5:
                    started.set()
    return times


def body(content: str, max_tokens: int) -> dict:
    return {
        "model": "glm-4",
        "stream": True,
        "temperature": 0,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": content}],
    }


async def one_round(server: ServerProcess, setting: str, a_tokens: int) -> Stall:
    headers = {"Authorization": f"Bearer {server.api_key}"}
    words = " ".join(f"word{i % 97}" for i in range(LONG_PROMPT_WORDS))
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=900) as client:
        await stream_times(client, body("Say hi.", 4))  # warm-up
        started = asyncio.Event()
        a = asyncio.create_task(
            stream_times(client, body("Write a long story about a lighthouse.", a_tokens), started)
        )
        await started.wait()
        b_sent = time.perf_counter()
        b_times = await stream_times(client, body(f"Count the words: {words}", 4))
        a_times = await a
    b_first = b_times[0] if b_times else time.perf_counter()
    # A's gaps that overlap B's wait for its first token
    gaps = [
        (y - x) * 1000 for x, y in zip(a_times, a_times[1:], strict=False) if y >= b_sent and x <= b_first
    ]
    gaps = gaps or [0.0]
    rate = (len(a_times) - 1) / (a_times[-1] - a_times[0]) if len(a_times) > 1 else 0.0
    return Stall(
        setting,
        max(gaps),
        statistics.quantiles(gaps, n=20)[-1] if len(gaps) > 1 else gaps[0],
        rate,
        (b_first - b_sent) * 1000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="1.5b")
    parser.add_argument("--settings", default="none,250,500")
    parser.add_argument("--tokens", type=int, default=160, help="stream A's length")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.model, args.settings, args.tokens = "0.5b", "none,200", 40
    path = model_file(MODELS_DIR, args.model)
    print(f"load average before: {loadavg()}", flush=True)
    results = []
    for setting in args.settings.split(","):
        with ServerProcess(
            "llamacpp",
            model_path=path,
            n_ctx=4096,
            parallel=2,
            start_timeout=600,
            model_options={"prefill_step_ms": setting},
        ) as server:
            results.append(asyncio.run(one_round(server, setting, args.tokens)))
        print(f"[{args.model}] {results[-1]}", flush=True)
    print(f"load average after: {loadavg()}")
    print(f"\n{args.model}: a ~3,200-token prompt arrives while a stream decodes (parallel 2)")
    print(f"{'prefill_step_ms':<16}{'A longest gap':>15}{'A p95 gap':>11}{'A tok/s':>9}{'B TTFT':>10}")
    for r in results:
        print(
            f"{r.setting:<16}{r.longest_gap_ms:>13.0f}ms{r.p95_gap_ms:>9.0f}ms{r.a_rate:>9.1f}{r.b_ttft_ms:>8.0f}ms"
        )


if __name__ == "__main__":
    main()
