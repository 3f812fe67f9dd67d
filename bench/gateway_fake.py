"""Gateway overhead on the fake engine: requests/s and latency through a live uvicorn server.

No weights: the server (a subprocess, `openmaas serve`-equivalent on a temp SQLite, loopback
only) runs the scriptable fake engine, so what is measured is the platform itself: HTTP,
auth, limits, the billing money path (the meter: hold → record), usage rows, chat assembly
and SSE. Clients are httpx async clients with keep-alive connections in this process; each
cell is bounded by a request count and a time limit.

`--compare-ref REF` measures "before and after" in one run: a temporary `git worktree` of
REF serves from its own code beside this checkout's server (same interpreter and venv), and
each cell alternates rounds between the two (REF, this; this, REF; ...) so that drift in the
machine's speed falls on both; latencies are pooled per side. It prints req/s, p50 and p99
of each and their ratio (goal for the meter, issue 16: req/s within 5%, the same p99).

    .venv/bin/python bench/gateway_fake.py                 # 1 and 32 clients, non-stream + stream
    .venv/bin/python bench/gateway_fake.py --levels 1,8,32 --duration 10 --no-stream
    .venv/bin/python bench/gateway_fake.py --compare-ref 99cbb66 --rounds 8 --duration 5
    .venv/bin/python bench/gateway_fake.py --compare-ref 73fbcfb^1 --new-ref 73fbcfb   # one merge only
    .venv/bin/python bench/gateway_fake.py --smoke [--compare-ref HEAD]   # seconds: the wiring
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from _server import ROOT, OtherLoad, ServerProcess, checkout_of, cpu_seconds, loadavg, short_commit

THIS = "this"  # the target name of this checkout's server (the other: the compared ref)

TEXT = (
    "the quick brown fox jumps over the lazy dog while seven sleepy cats watch from a sunny "
    "window and count the passing clouds one by one"
)
WORDS = TEXT.split(" ")


@dataclass
class Cell:
    mode: str
    clients: int
    target: str = THIS
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    ttfb: list[float] = field(default_factory=list)  # stream: first content delta
    errors: int = 0
    elapsed: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0

    @property
    def done(self) -> int:
        return len(self.latencies)

    def pct(self, values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @property
    def rps(self) -> float:
        return self.done / self.elapsed if self.elapsed else float("nan")

    def cpu_per_request(self) -> float:
        """The server's CPU ms per successful request."""
        return 1000 * self.server_cpu / max(self.done, 1)

    def add(self, other: Cell) -> None:
        """Pool another round of the same cell."""
        self.latencies += other.latencies
        self.ttfb += other.ttfb
        self.errors += other.errors
        self.elapsed += other.elapsed
        self.server_cpu += other.server_cpu
        self.client_cpu += other.client_cpu


def body(args: argparse.Namespace, stream: bool) -> dict:
    content = " ".join(WORDS[i % len(WORDS)] for i in range(args.words))
    data = {
        "model": args.model,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": args.max_tokens,
        "temperature": 0,
    }
    if stream:
        data["stream"] = True
    return data


async def one(client: httpx.AsyncClient, url: str, payload: dict, stream: bool, cell: Cell) -> None:
    start = time.perf_counter()
    try:
        if not stream:
            response = await client.post(url, json=payload)
            if response.status_code != 200 or not response.json()["choices"][0]["message"]["content"]:
                cell.errors += 1
                return
        else:
            first = None
            async with client.stream("POST", url, json=payload) as response:
                if response.status_code != 200:
                    await response.aread()
                    cell.errors += 1
                    return
                ended = False
                async for line in response.aiter_lines():
                    if first is None and line.startswith("data: {") and '"content":""' not in line:
                        first = time.perf_counter()
                    if line == "data: [DONE]":
                        ended = True
                if not ended or first is None:
                    cell.errors += 1
                    return
            cell.ttfb.append(first - start)
    except httpx.HTTPError:
        cell.errors += 1
        return
    cell.latencies.append(time.perf_counter() - start)


async def run_cell(
    server: ServerProcess, args: argparse.Namespace, mode: str, clients: int, count: int, duration: float
) -> Cell:
    stream = mode == "stream"
    cell = Cell(mode, clients)
    payload = body(args, stream)
    url = f"{server.base_url}/api/paas/v4/chat/completions"
    headers = {"Authorization": f"Bearer {server.api_key}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as client:
        issued = 0

        async def worker(deadline: float) -> None:
            nonlocal issued
            while issued < count and time.perf_counter() < deadline:
                issued += 1
                await one(client, url, payload, stream, cell)

        # open the connections first so that the cell does not time TCP set-up
        await asyncio.gather(*(client.get(f"{server.base_url}/health") for _ in range(clients)))
        cpu0, self0 = cpu_seconds(server.pid), _self_cpu()
        began = time.perf_counter()
        await asyncio.gather(*(worker(began + duration) for _ in range(clients)))
        cell.elapsed = time.perf_counter() - began
        cell.server_cpu, cell.client_cpu = cpu_seconds(server.pid) - cpu0, _self_cpu() - self0
    return cell


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def servers(args: argparse.Namespace) -> dict[str, ServerProcess]:
    """This checkout's server, and with --compare-ref one serving that commit's code."""
    with contextlib.ExitStack() as stack:
        trees = {THIS: ROOT}
        if args.compare_ref:
            mine = stack.enter_context(checkout_of(args.new_ref)) if args.new_ref else ROOT
            trees = {args.compare_ref: stack.enter_context(checkout_of(args.compare_ref)), THIS: mine}
        started = {}
        for name, tree in trees.items():
            started[name] = stack.enter_context(
                ServerProcess("fake", n_ctx=4096, max_output_tokens=max(args.max_tokens, 16), tree=Path(tree))
            )
        yield started


async def bench(args: argparse.Namespace) -> list[Cell]:
    modes = ["non-stream"] + ([] if args.no_stream else ["stream"])
    levels = [int(x) for x in args.levels.split(",")]
    pooled: dict[tuple[str, str, int], Cell] = {}
    with servers(args) as targets:
        for name, server in targets.items():
            code = "this working tree" if name == THIS and not args.new_ref else "commit"
            print(
                f"{name}: server up in {server.startup_s:.1f} s (pid {server.pid}, {server.base_url}, "
                f"{code} at {short_commit('HEAD', server.tree)})",
                flush=True,
            )
            check = await run_cell(server, args, "stream", 1, 1, 10)  # sanity: the key works, SSE ends
            if check.errors:
                print(f"sanity request failed:\n{server.log_tail()}", file=sys.stderr)
                raise SystemExit(1)
        for mode in modes:
            for server in targets.values():
                await run_cell(server, args, mode, max(levels), args.warmup, 10)  # warm-up, not reported
            for level in levels:
                for rnd in range(args.rounds):  # alternate who goes first: drift falls on both
                    order = list(targets) if rnd % 2 == 0 else list(reversed(targets))
                    for name in order:
                        cell = await run_cell(targets[name], args, mode, level, args.requests, args.duration)
                        cell.target = name
                        pooled.setdefault((name, mode, level), Cell(mode, level, name)).add(cell)
                for name in targets:
                    cell = pooled[name, mode, level]
                    print(
                        f"  {mode:10s} c={level:<3d} {name:8s} {cell.done:6d} ok {cell.errors:4d} err  "
                        f"{cell.rps:8.1f} req/s  p50 {cell.pct(cell.latencies, 0.5):7.2f} ms  "
                        f"p99 {cell.pct(cell.latencies, 0.99):7.2f} ms  load {loadavg()}",
                        flush=True,
                    )
    return list(pooled.values())


def compare(cells: list[Cell], ref: str) -> dict:
    """This checkout against `ref`, per mode and level: req/s and latency ratios (this / ref)."""
    by = {(c.target, c.mode, c.clients): c for c in cells}
    out = {}
    print()
    for (target, mode, clients), new in by.items():
        if target != THIS:
            continue
        old = by[ref, mode, clients]
        rps, p50, p99 = (
            new.rps / old.rps,
            new.pct(new.latencies, 0.5) / old.pct(old.latencies, 0.5),
            new.pct(new.latencies, 0.99) / old.pct(old.latencies, 0.99),
        )
        within = abs(rps - 1) <= 0.05
        print(
            f"COMPARE {mode:10s} c={clients:<3d} req/s {old.rps:8.1f} ({ref}) -> {new.rps:8.1f} (this) "
            f"= {rps:.3f}x [{'within 5%' if within else 'OUTSIDE 5%'}]  "
            f"p50 {old.pct(old.latencies, 0.5):.2f} -> {new.pct(new.latencies, 0.5):.2f} ms ({p50:.3f}x)  "
            f"p99 {old.pct(old.latencies, 0.99):.2f} -> {new.pct(new.latencies, 0.99):.2f} ms ({p99:.3f}x) "
            f"server CPU {old.cpu_per_request():.2f} -> {new.cpu_per_request():.2f} ms/req"
        )
        out[f"{mode}@{clients}"] = {
            "rps_ratio": round(rps, 4),
            "p50_ratio": round(p50, 4),
            "p99_ratio": round(p99, 4),
            "rps_within_5pct": within,
            "server_cpu_ms_per_req": [round(old.cpu_per_request(), 3), round(new.cpu_per_request(), 3)],
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,32", help="comma-separated client counts")
    parser.add_argument("--requests", type=int, default=3000, help="max requests per cell and round")
    parser.add_argument("--duration", type=float, default=20.0, help="max seconds per cell and round")
    parser.add_argument(
        "--rounds", type=int, default=None, help="rounds per cell, pooled (default 1; 6 with --compare-ref)"
    )
    parser.add_argument("--warmup", type=int, default=100, help="warm-up requests per mode")
    parser.add_argument(
        "--model",
        default="glm-4",
        help="model name sent (glm-4 is priced, so every request holds and records)",
    )
    parser.add_argument("--words", type=int, default=24, help="user message length; the fake echoes it")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--no-stream", action="store_true", help="skip the streaming cells")
    parser.add_argument(
        "--compare-ref",
        default=None,
        metavar="REF",
        help="also serve commit REF (a temporary git worktree) and compare, rounds alternating",
    )
    parser.add_argument(
        "--new-ref",
        default=None,
        metavar="REF",
        help="with --compare-ref: serve commit REF as 'this' instead of this working tree "
        "(isolates one change, e.g. --compare-ref M^1 --new-ref M for a merge M)",
    )
    parser.add_argument("--smoke", action="store_true", help="seconds: c=1,4, short cells (tests run it)")
    args = parser.parse_args()
    if args.smoke:
        args.levels, args.requests, args.duration, args.warmup = "1,4", 40, 1.0, 10
        args.rounds = args.rounds or 2
    args.rounds = args.rounds or (6 if args.compare_ref else 1)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    began = time.perf_counter()
    others = OtherLoad()
    print(
        f"gateway_fake: levels={args.levels} rounds={args.rounds} requests<={args.requests}/cell "
        f"duration<={args.duration}s/cell model={args.model} words={args.words}"
        f"{f' compare-ref={args.compare_ref}' if args.compare_ref else ''}  "
        f"load(1/5/15m)={loadavg()}",
        flush=True,
    )
    cells = asyncio.run(bench(args))
    print()
    print(
        f"{'mode':10s} {'clients':>7s} {'target':8s} {'ok':>6s} {'err':>4s} {'req/s':>8s} {'p50 ms':>8s} "
        f"{'p99 ms':>8s} {'TTFB p50':>9s} {'srv CPU ms/req':>14s} {'client CPU ms/req':>17s}"
    )
    for c in cells:
        ttfb = f"{c.pct(c.ttfb, 0.5):9.2f}" if c.ttfb else f"{'-':>9s}"
        print(
            f"{c.mode:10s} {c.clients:7d} {c.target:8s} {c.done:6d} {c.errors:4d} {c.rps:8.1f} "
            f"{c.pct(c.latencies, 0.5):8.2f} {c.pct(c.latencies, 0.99):8.2f} {ttfb} "
            f"{1000 * c.server_cpu / max(c.done, 1):14.2f} {1000 * c.client_cpu / max(c.done, 1):17.2f}"
        )
    mine = [c for c in cells if c.target == THIS]
    by = {(c.mode, c.clients): c for c in mine}
    levels = sorted({c.clients for c in mine})
    parts = []
    for mode in ("non-stream", "stream"):
        lo, hi = by.get((mode, levels[0])), by.get((mode, levels[-1]))
        if lo and hi and hi is not lo:
            parts.append(f"{mode} req/s c={hi.clients}/c={lo.clients} = {hi.rps / lo.rps:.2f}")
    if ("stream", levels[-1]) in by and ("non-stream", levels[-1]) in by:
        parts.append(
            f"stream/non-stream req/s at c={levels[-1]} = "
            f"{by['stream', levels[-1]].rps / by['non-stream', levels[-1]].rps:.2f}"
        )
    ratios = compare(cells, args.compare_ref) if args.compare_ref else {}
    errors = sum(c.errors for c in cells)
    print(
        f"SUMMARY {'; '.join(parts)}; errors {errors}; load now {loadavg()}; "
        f"wall {time.perf_counter() - began:.0f} s; {others.verdict()}"
    )
    result = {
        f"{c.mode}@{c.clients}" + ("" if c.target == THIS else f"@{c.target}"): {
            "rps": round(c.rps, 1),
            "p50_ms": round(c.pct(c.latencies, 0.5), 2),
            "p99_ms": round(c.pct(c.latencies, 0.99), 2),
            "errors": c.errors,
        }
        for c in cells
    }
    if ratios:
        result["compare"] = {"ref": args.compare_ref, **ratios}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
