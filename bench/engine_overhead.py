"""Engine overhead: OpenMaaS streaming vs llama-cpp-python called directly, same model and prompt.

Each round runs, in separate processes (llama.cpp slows down ~55% once two OS threads of one
process have called into it, so the baseline and the server never share a process):

* direct  — a fresh process: `Llama(...)` with the engine's n_threads / n_ctx / n_batch, then
            `create_completion(prompt_tokens, stream=True, max_tokens=N, temperature=0)`
            (optionally also a bare `Llama.generate` loop, `--raw-baseline`);
* server  — a fresh `openmaas serve`-equivalent (uvicorn + create_app, temp SQLite) and a
            plain httpx client streaming `/v1/chat/completions` and reading SSE lines.

Both sides use the same chat-templated prompt tokens, greedy decoding, the same max_tokens and
the same warm-up request first (so the KV-cache prefix state is identical). The order of the
two alternates between rounds; medians over the rounds are reported.

    .venv/bin/python bench/engine_overhead.py     # 5 rounds, 256 tokens, the platform's OpenMP policy
    .venv/bin/python bench/engine_overhead.py --omp-wait-policy PASSIVE   # or ACTIVE, default, spin:N
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from _server import (
    DEFAULT_MODEL,
    OtherLoad,
    ServerProcess,
    cpu_seconds,
    loadavg,
    omp_argument,
    platform_omp_policy,
    thread_cpu_seconds,
    with_omp_wait_policy,
)

DEFAULT_PROMPT = (
    "Write a complete Python module that implements a red-black tree with insert, delete, "
    "search, in-order traversal and a pretty printer. Include docstrings and type hints "
    "for every method, then write unit tests for it with pytest."
)
WARMUP_PROMPT = "Say hello."
MODEL_NAME = "qwen2.5-coder-0.5b-instruct"


def messages(prompt: str) -> list[dict]:
    return [{"role": "user", "content": prompt}]


# --- direct (child process) ------------------------------------------------------------------
def run_direct(args: argparse.Namespace) -> dict:
    with_omp_wait_policy(os.environ, args.omp_wait_policy)
    import llama_cpp

    from openmaas.engines.base import ChatMessage
    from openmaas.engines.chat_template import ChatTemplate

    loaded = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=str(args.model),
        n_ctx=args.n_ctx,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        n_batch=args.n_batch,
        flash_attn=args.flash_attn == "on",
        verbose=False,
    )
    load_s = time.perf_counter() - loaded

    def special(token_id: int) -> str:
        return llm.detokenize([token_id], special=True).decode() if token_id >= 0 else ""

    template = ChatTemplate(
        llm.metadata["tokenizer.chat_template"], special(llm.token_bos()), special(llm.token_eos())
    )

    def tokens_for(prompt: str) -> list[int]:  # exactly what the engine's `prepare` does
        text = template.render([ChatMessage(role="user", content=prompt)])
        return llm.tokenize(text.encode(), True, True)

    def completion(prompt_tokens: list[int], max_tokens: int) -> dict:
        start = time.perf_counter()
        first = None
        parts, finish = [], None
        for chunk in llm.create_completion(
            prompt_tokens,
            stream=True,
            max_tokens=max_tokens,
            temperature=0.0,
            top_k=40,
            top_p=1.0,
            min_p=0.05,
            repeat_penalty=1.0,
        ):
            choice = chunk["choices"][0]
            if choice["text"]:
                if first is None:
                    first = time.perf_counter()
                parts.append(choice["text"])
            finish = choice.get("finish_reason") or finish
        done = time.perf_counter()
        return {"start": start, "first": first, "done": done, "text": "".join(parts), "finish": finish}

    def raw_generate(prompt_tokens: list[int], max_tokens: int) -> dict:
        """The engine's own loop shape, without the server: generate + detokenize per token."""
        start = time.perf_counter()
        first = None
        parts, finish = [], "length"
        gen = llm.generate(prompt_tokens, temp=0.0, top_p=1.0, top_k=40, min_p=0.05, repeat_penalty=1.0)
        for produced, token in enumerate(gen, 1):
            if llama_cpp.llama_vocab_is_eog(llm._model.vocab, token):
                finish = "stop"
                break
            piece = llm.detokenize([token]).decode(errors="replace")
            if first is None:
                first = time.perf_counter()
            parts.append(piece)
            if produced >= max_tokens:
                break
        gen.close()
        done = time.perf_counter()
        return {"start": start, "first": first, "done": done, "text": "".join(parts), "finish": finish}

    def timed(fn, prompt_tokens: list[int]) -> dict:
        completion(tokens_for(WARMUP_PROMPT), 4)  # same KV-cache state as the server's warm-up
        cpu0 = process_cpu()
        row = summarize(fn(prompt_tokens, args.max_tokens), args.max_tokens)
        row["cpu_s"] = process_cpu() - cpu0
        return row

    prompt_tokens = tokens_for(args.prompt)
    probes = []
    for _ in range(args.ttft_probes):
        completion(tokens_for(WARMUP_PROMPT), 4)
        probes.append(summarize(completion(prompt_tokens, 1), 1)["ttft_ms"])
    result = {
        "load_s": load_s,
        "prompt_tokens": len(prompt_tokens),
        "direct": timed(completion, prompt_tokens) | {"ttft_probes_ms": probes},
    }
    if args.raw_baseline:
        result["raw"] = timed(raw_generate, prompt_tokens)
    return result


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def summarize(run: dict, max_tokens: int) -> dict:
    """TTFT = request start → first content; decode tok/s = (N-1) / (end − first content)."""
    n = max_tokens if run["finish"] == "length" else None
    decode = (n - 1) / (run["done"] - run["first"]) if n and run["first"] else float("nan")
    return {
        "ttft_ms": (run["first"] - run["start"]) * 1000,
        "decode_tps": decode,
        "tokens": n,
        "finish": run["finish"],
        "total_s": run["done"] - run["start"],
        "text": run["text"],
    }


def direct_in_subprocess(args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--role",
        "direct",
        "--model",
        str(args.model),
        "--max-tokens",
        str(args.max_tokens),
        "--threads",
        str(args.threads),
        "--n-ctx",
        str(args.n_ctx),
        "--n-batch",
        str(args.n_batch),
        "--omp-wait-policy",
        args.omp_wait_policy,
        "--flash-attn",
        args.flash_attn,
        "--ttft-probes",
        str(args.ttft_probes),
        "--prompt",
        args.prompt,
    ]
    cmd += ["--raw-baseline"] if args.raw_baseline else []
    env = with_omp_wait_policy(dict(os.environ), args.omp_wait_policy)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"direct run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- server (parent process, httpx client) ---------------------------------------------------
def stream_chat(client: httpx.Client, server: ServerProcess, prompt: str, max_tokens: int) -> dict:
    body = {
        "model": MODEL_NAME,
        "messages": messages(prompt),
        "stream": True,
        "temperature": 0,
        "max_tokens": max_tokens,
        "stream_options": {"include_usage": True},
    }
    headers = {"Authorization": f"Bearer {server.api_key}"}
    start = time.perf_counter()
    first = None
    parts, finish, usage = [], None, None
    with client.stream(
        "POST", f"{server.base_url}/v1/chat/completions", json=body, headers=headers
    ) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                break
            event = json.loads(data)
            if "error" in event:
                raise RuntimeError(f"stream error: {event}")
            for choice in event.get("choices", []):
                text = choice.get("delta", {}).get("content")
                if text:
                    if first is None:
                        first = time.perf_counter()
                    parts.append(text)
                finish = choice.get("finish_reason") or finish
            usage = event.get("usage") or usage
    done = time.perf_counter()
    run = {"start": start, "first": first, "done": done, "text": "".join(parts), "finish": finish}
    result = summarize(run, max_tokens)
    result["usage_tokens"] = usage and usage["completion_tokens"]
    return result


def run_server(args: argparse.Namespace) -> dict:
    with (
        ServerProcess(
            "llamacpp",
            model_path=args.model,
            threads=args.threads,
            n_ctx=args.n_ctx,
            omp_wait_policy=args.omp_wait_policy,
        ) as server,
        httpx.Client(timeout=300) as client,
    ):
        probes = []
        for _ in range(args.ttft_probes):
            stream_chat(client, server, WARMUP_PROMPT, 4)
            time.sleep(0.2)  # let the warm-up's usage/settlement writes finish
            probes.append(stream_chat(client, server, args.prompt, 1)["ttft_ms"])
        stream_chat(client, server, WARMUP_PROMPT, 4)
        time.sleep(0.2)
        cpu0, client0 = cpu_seconds(server.pid), process_cpu()
        threads0 = thread_cpu_seconds(server.pid)
        result = stream_chat(client, server, args.prompt, args.max_tokens)
        result["cpu_s"] = cpu_seconds(server.pid) - cpu0
        threads1 = thread_cpu_seconds(server.pid)
        result["loop_cpu_s"] = threads1.get(server.pid, 0.0) - threads0.get(server.pid, 0.0)
        result["client_cpu_s"] = process_cpu() - client0
        result["startup_s"] = server.startup_s
        result["ttft_probes_ms"] = probes
        return result


# --- report ----------------------------------------------------------------------------------
def median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def ttfts(rows: list[dict]) -> list[float]:
    """Every TTFT sample: the long run's and the 1-token probes'."""
    return [v for r in rows for v in (r["ttft_ms"], *r.get("ttft_probes_ms", ()))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=["parent", "direct"], default="parent", help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="GGUF file (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating direct/server rounds")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 2,
        help="n_threads = n_threads_batch (the engine uses Settings.engine_threads)",
    )
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--n-batch", type=int, default=512, help="the engine's batch_size")
    parser.add_argument(
        "--omp-wait-policy",
        type=omp_argument,
        metavar="PASSIVE|ACTIVE|default|spin:N",
        default=platform_omp_policy(),
    )
    parser.add_argument(
        "--flash-attn",
        choices=["on", "off"],
        default="on",
        help="direct side; the engine's context uses llama.cpp's default (auto), which "
        "enables flash attention on CPU, while llama-cpp-python's Llama defaults to off",
    )
    parser.add_argument("--prompt", default=DEFAULT_PROMPT)
    parser.add_argument(
        "--ttft-probes",
        type=int,
        default=4,
        help="extra 1-token requests per process for TTFT (each after the warm-up)",
    )
    parser.add_argument(
        "--raw-baseline",
        action="store_true",
        help="also time a bare Llama.generate loop in the direct process",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=270.0,
        help="stop starting new rounds after this many seconds (at least one round runs)",
    )
    args = parser.parse_args()
    if args.role == "direct":
        print(json.dumps(run_direct(args)))
        return 0
    if not args.model.is_file():
        print(f"{args.model} missing: run `.venv/bin/openmaas models assemble`", file=sys.stderr)
        return 2

    began = time.perf_counter()
    others = OtherLoad()
    print(
        f"engine_overhead: model={args.model.name} max_tokens={args.max_tokens} threads={args.threads} "
        f"n_ctx={args.n_ctx} n_batch={args.n_batch} flash_attn(direct)={args.flash_attn} "
        f"OpenMP={args.omp_wait_policy} "
        f"rounds={args.rounds}  load(1/5/15m)={loadavg()}",
        flush=True,
    )
    direct_rows, raw_rows, server_rows = [], [], []
    prompt_tokens = -1
    for i in range(args.rounds):
        if i and time.perf_counter() - began > args.budget:
            print(f"time budget reached after {i} rounds", flush=True)
            break
        order = ("direct", "server") if i % 2 == 0 else ("server", "direct")
        for side in order:
            side_load = OtherLoad()
            if side == "direct":
                out = direct_in_subprocess(args)
                direct_rows.append(out["direct"])
                prompt_tokens = out["prompt_tokens"]
                if "raw" in out:
                    raw_rows.append(out["raw"])
                row = out["direct"]
            else:
                row = run_server(args)
                server_rows.append(row)
            print(
                f"  round {i + 1} {side:6s}: ttft {statistics.median(ttfts([row])):7.1f} ms  decode "
                f"{row['decode_tps']:6.2f} tok/s  tokens {row['tokens']}  finish {row['finish']}  "
                f"cpu {1000 * row['cpu_s'] / args.max_tokens:5.1f} ms/tok  load {loadavg()}  "
                f"others {side_load.cpus():.2f} CPUs",
                flush=True,
            )

    same_text = all(s["text"] == direct_rows[0]["text"] for s in server_rows + direct_rows)
    for row in server_rows + direct_rows + raw_rows:
        if row["finish"] != "length":
            print(f"WARNING: a run stopped early ({row['finish']}); pick a longer prompt", flush=True)
    if any(r.get("usage_tokens") not in (None, args.max_tokens) for r in server_rows):
        print("WARNING: server usage.completion_tokens != max_tokens", flush=True)

    d_tps, s_tps = median(direct_rows, "decode_tps"), median(server_rows, "decode_tps")
    d_ttft, s_ttft = statistics.median(ttfts(direct_rows)), statistics.median(ttfts(server_rows))
    paired = [s["decode_tps"] / d["decode_tps"] for s, d in zip(server_rows, direct_rows, strict=False)]
    print()
    n = args.max_tokens
    print(
        f"{'side (medians)':34s} {'runs':>4s} {'decode tok/s':>13s} {'TTFT ms':>9s} {'(n)':>4s} "
        f"{'total s':>8s} {'CPU ms/tok':>10s}"
    )
    sides = [
        ("direct llama-cpp-python (stream)", direct_rows),
        ("direct Llama.generate loop", raw_rows),
        ("OpenMaaS /v1 SSE over uvicorn", server_rows),
    ]
    for name, rows in sides:
        if rows:
            print(
                f"{name:34s} {len(rows):4d} {median(rows, 'decode_tps'):13.2f} "
                f"{statistics.median(ttfts(rows)):9.1f} {len(ttfts(rows)):4d} "
                f"{median(rows, 'total_s'):8.2f} "
                f"{1000 * median(rows, 'cpu_s') / n:10.2f}"
            )
    print(
        f"{'  of which the event-loop thread':34s} {'':4s} {'':13s} {'':9s} {'':4s} {'':8s} "
        f"{1000 * median(server_rows, 'loop_cpu_s') / n:10.2f}"
    )
    print(
        f"{'  (+ the httpx client process)':34s} {'':4s} {'':13s} {'':9s} {'':4s} {'':8s} "
        f"{1000 * median(server_rows, 'client_cpu_s') / n:10.2f}"
    )
    print(
        f"(decode tok/s min/max: direct {min(r['decode_tps'] for r in direct_rows):.2f}/"
        f"{max(r['decode_tps'] for r in direct_rows):.2f}, OpenMaaS "
        f"{min(r['decode_tps'] for r in server_rows):.2f}/{max(r['decode_tps'] for r in server_rows):.2f}; "
        f"per-round ratios {' '.join(f'{r:.3f}' for r in paired)}; prompt tokens {prompt_tokens}; "
        f"identical output text: {same_text}; load now {loadavg()}; "
        f"wall {time.perf_counter() - began:.0f} s)"
    )
    ratio, delta = s_tps / d_tps, s_ttft - d_ttft
    verdict = "PASS" if ratio >= 0.97 else "MISS"
    print(
        f"SUMMARY decode OpenMaaS/direct = {ratio:.3f} (median of per-round ratios "
        f"{statistics.median(paired):.3f}; goal >= 0.97: {verdict}); "
        f"TTFT OpenMaaS-direct = {delta:+.1f} ms (goal <= 10 ms: {'PASS' if delta <= 10 else 'MISS'}); "
        f"OpenMP={args.omp_wait_policy}; {others.verdict()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
