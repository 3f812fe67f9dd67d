"""Serving formats chosen by measurement: each default model's packaged GGUF against the
variants llama.cpp repacks into its interleaved CPU GEMM layouts, on speed and on quality.

For each model (`--models`) and each of its variants (`catalog/weights.py`, derived once into
the models dir with llama.cpp's own quantizer, sha256-pinned; `packaged` is the file as
shipped), in one run on one machine:

- raw: llama.cpp's batch API on the *packaged* file in a fresh process, one sequence,
  decode only (bench/_raw_batch.py): the baseline every ratio is taken against;
- served: a fresh OpenMaaS server (bench/_server.py, as `openmaas serve`: HTTP, billing and
  limits on) on the variant: single-stream decode tok/s (tokens after the first over the time
  after the first), 2/4/8-stream aggregate tok/s from request start, TTFT p50, and prefill
  tok/s (a ~1,500-token prompt, max_tokens 1: prompt tokens / time to the answer);
- quality (`--perplexity`): perplexity on the shipped text (bench/data/perplexity/, 24k
  English + 29k Chinese tokens, bench/_perplexity.py), and the change against the packaged
  file. The tool-calling and knowledge-answer evals run per variant with their own benches
  (`--variant NAME`), printed below the table as commands.

The rule (README, "Serving formats"): a variant may serve if its perplexity is at most 2 %
above the packaged file's on both languages and no eval drops beyond noise; of those, the one
with the fastest served single stream is preferred.

    .venv/bin/python bench/engine_speed.py --perplexity          # both models, ~30 min
    .venv/bin/python bench/engine_speed.py --models 0.5b --variants packaged,iq4_nl
    .venv/bin/python bench/engine_speed.py --smoke               # seconds: 0.5B packaged, tiny
    .venv/bin/python bench/engine_speed.py --speculative --models 1.5b --variants packaged

`--speculative` adds, per model and variant, the served single-stream decode with speculative
decoding (engines/speculative.py) against the same server without it, in the same run: drafted
by the 0.5B (packaged) and by prompt lookup, each drafting every round ("always") and as served
by default (drafting only while the measured verify cost and acceptance say it pays); on free
text (greedy and sampled at the Zhipu defaults 0.95 / 0.7) and on a passage to quote back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from _perplexity import perplexity
from _server import ROOT, ServerProcess, loadavg, platform_omp_policy, raw_batch_rates
from _weights import PACKAGES, model_file
from engine_scaling import TOPICS

from openmaas.catalog import variants, weights
from openmaas.catalog.weights import WeightsUnavailable

MODELS_DIR = Path("~/.openmaas/models").expanduser()
PREFILL_WORDS = 1100  # ~3,200 tokens of prompt ("word12" is three)


@dataclass
class Row:
    model: str
    variant: str
    mb: float
    one_stream: float = 0.0  # served decode tok/s, one stream
    aggregate: dict[int, float] = field(default_factory=dict)  # streams → tok/s from request start
    ttft_p50_ms: float = 0.0
    prefill: float = 0.0  # prompt tok/s
    ppl: dict[str, float] = field(default_factory=dict)  # language → perplexity


async def one_stream(client: httpx.AsyncClient, body: dict) -> tuple[float, float, int]:
    """(TTFT s, decode seconds after the first token, completion tokens)."""
    began, first, tokens = time.perf_counter(), 0.0, 0
    async with client.stream("POST", "/api/paas/v4/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[6:])
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content") and not first:
                first = time.perf_counter()
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    end = time.perf_counter()
    return (first or end) - began, end - (first or end), tokens


def story(index: int, max_tokens: int) -> dict:
    topic = TOPICS[index % len(TOPICS)]
    return {
        "model": "glm-4",
        "stream": True,
        "max_tokens": max_tokens,
        "temperature": 0,
        "messages": [{"role": "user", "content": f"Write a long story about {topic}."}],
    }


async def served_figures(
    server: ServerProcess, row: Row, levels: list[int], tokens: int, repeat: int
) -> None:
    headers = {"Authorization": f"Bearer {server.api_key}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=900) as client:
        await one_stream(client, story(0, 4))  # warm-up
        singles = [await one_stream(client, story(i, tokens)) for i in range(repeat)]
        row.one_stream = statistics.median((n - 1) / d for _, d, n in singles if d > 0 and n > 1)
        ttfts = [t for t, _, _ in singles]
        for streams in levels:
            began = time.perf_counter()
            results = await asyncio.gather(*[one_stream(client, story(i, tokens)) for i in range(streams)])
            row.aggregate[streams] = sum(n for _, _, n in results) / (time.perf_counter() - began)
            ttfts.extend(t for t, _, _ in results)
        row.ttft_p50_ms = statistics.median(ttfts) * 1000
        row.prefill = await prefill_rate(client)


async def prefill_rate(client: httpx.AsyncClient) -> float:
    words = " ".join(f"word{i % 97}" for i in range(PREFILL_WORDS))
    body = {
        "model": "glm-4",
        "max_tokens": 1,
        "temperature": 0,
        "messages": [{"role": "user", "content": f"Count the words: {words}"}],
    }
    began = time.perf_counter()
    answer = (await client.post("/api/paas/v4/chat/completions", json=body)).raise_for_status().json()
    return answer["usage"]["prompt_tokens"] / (time.perf_counter() - began)


SPECULATION = {  # setup → the model options it adds
    "plain": {},
    "0.5B draft, always": {"draft": "0.5b", "draft_policy": "always"},
    "0.5B draft, measured": {"draft": "0.5b"},
    "lookup, always": {"draft": "lookup", "draft_policy": "always"},
    "lookup, measured": {"draft": "lookup"},
}


def workloads(tokens: int, count: int) -> dict[str, list[dict]]:
    """`count` requests per workload, each a single stream."""
    passage = (ROOT / "bench" / "data" / "perplexity" / "en.txt").read_text().split("\n\n")[3 : 3 + count]
    quote = [
        {
            "model": "glm-4",
            "stream": True,
            "max_tokens": tokens,
            "temperature": 0,
            "messages": [{"role": "user", "content": f"Copy this text exactly, word for word:\n\n{text}"}],
        }
        for text in passage
    ]
    sampled = [story(i, tokens) | {"temperature": 0.95, "top_p": 0.7, "seed": i} for i in range(count)]
    return {"story": [story(i, tokens) for i in range(count)], "story, sampled": sampled, "quote": quote}


async def decode_rates(server: ServerProcess, requests: list[dict]) -> float:
    """Median single-stream decode tok/s (after the first token) over `requests`."""
    headers = {"Authorization": f"Bearer {server.api_key}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=900) as client:
        await one_stream(client, story(0, 4))  # warm-up
        rates = []
        for body in requests:
            _, seconds, tokens = await one_stream(client, body)
            if seconds > 0 and tokens > 1:
                rates.append((tokens - 1) / seconds)
        return statistics.median(rates) if rates else 0.0


def measure_speculation(model: str, path: Path, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Setup → workload → served single-stream decode tok/s."""
    draft_file = str(model_file(MODELS_DIR, "0.5b", args.draft_variant))
    table: dict[str, dict[str, float]] = {}
    for setup in args.spec_setups:
        options = SPECULATION[setup]
        if options.get("draft") == "0.5b":
            options = options | {"draft": draft_file}
        with ServerProcess(
            "llamacpp", model_path=path, n_ctx=4096, parallel=4, start_timeout=600, model_options=options
        ) as server:
            table[setup] = {
                name: asyncio.run(decode_rates(server, bodies))
                for name, bodies in workloads(args.tokens, args.repeat).items()
            }
        print(f"[{model}] {path.name} {setup}: {table[setup]}", flush=True)
    return table


def print_speculation(model: str, variant: str, table: dict[str, dict[str, float]]) -> None:
    plain = table["plain"]
    names = list(plain)
    print(f"\n{model} {variant}: speculative decoding, served single-stream decode tok/s (× plain)")
    print(f"{'setup':<24}" + "".join(f"{name:>22}" for name in names))
    for setup, rates in table.items():
        cells = "".join(f"{rates[n]:>13.1f} ({rates[n] / plain[n]:>4.2f}×)" for n in names)
        print(f"{setup:<24}{cells}")


def derive_candidates(model: str, names: list[str]) -> dict[str, Path]:
    """Each named variant's file, derived (minutes, once) when it is not there yet."""
    package = weights.package_for(PACKAGES[model])
    files = {}
    for name in names:
        if name != variants.PACKAGED:
            variant = next(v for v in package.variants if v.name == name)
            print(f"[{model}] {name}: deriving or verifying ...", flush=True)
            try:
                variants.derive(MODELS_DIR, package, variant)
            except WeightsUnavailable as exc:
                print(f"[{model}] {name}: {exc.message}; skipped", flush=True)
                continue
        files[name] = model_file(MODELS_DIR, model, name)
    return files


def measure_model(model: str, args: argparse.Namespace) -> tuple[float, list[Row]]:
    files = derive_candidates(model, args.variant_names(model))
    packaged = files[variants.PACKAGED]
    raw_one = raw_batch_rates(packaged, [1], args.tokens, platform_omp_policy())[1]
    print(f"[{model}] raw packaged, one stream: {raw_one:.1f} tok/s", flush=True)
    rows = []
    for name, path in files.items():
        row = Row(model, name, path.stat().st_size / 1e6)
        with ServerProcess(
            "llamacpp", model_path=path, n_ctx=4096, parallel=max(args.levels), start_timeout=600
        ) as server:
            asyncio.run(served_figures(server, row, args.levels, args.tokens, args.repeat))
        if args.perplexity:
            for language in ("en", "zh"):
                row.ppl[language] = perplexity(path, language, limit=args.ppl_tokens).value
        print(f"[{model}] {name}: {row}", flush=True)
        rows.append(row)
        if args.speculative:
            args.speculation[(model, name)] = measure_speculation(model, path, args)
    return raw_one, rows


def print_table(model: str, raw_one: float, rows: list[Row], levels: list[int]) -> None:
    base = next(r for r in rows if r.variant == variants.PACKAGED)
    streams = "".join(f"{f'{n} str':>9}" for n in levels)
    print(f"\n{model}: raw packaged one stream {raw_one:.1f} tok/s (decode only)")
    print(
        f"{'variant':<10}{'MB':>7}{'1 str':>8}{streams}{'TTFT p50':>10}{'prefill':>9}"
        f"{'1/raw':>7}{'4/raw':>7}{'ppl en':>9}{'ppl zh':>9}{'Δen':>7}{'Δzh':>7}"
    )
    for row in rows:
        aggregates = "".join(f"{row.aggregate.get(n, 0):>9.1f}" for n in levels)
        four = row.aggregate.get(4, 0) / raw_one
        ppl = "".join(f"{row.ppl.get(lang, float('nan')):>9.3f}" for lang in ("en", "zh"))
        delta = "".join(f"{_change(row.ppl, base.ppl, lang):>+6.1f}%" for lang in ("en", "zh"))
        print(
            f"{row.variant:<10}{row.mb:>7.0f}{row.one_stream:>8.1f}{aggregates}{row.ttft_p50_ms:>8.0f}ms"
            f"{row.prefill:>9.0f}{row.one_stream / raw_one:>7.2f}{four:>7.2f}{ppl}{delta}"
        )
    for row in rows:
        if row.ppl and row.variant != variants.PACKAGED:
            ok = all(_change(row.ppl, base.ppl, lang) <= 2.0 for lang in ("en", "zh"))
            print(f"  {row.variant}: perplexity rule (≤ 2 % on both languages): {'PASS' if ok else 'FAIL'}")
    for row in rows:
        slower = [n for n in levels if row.aggregate.get(n, 0) < row.one_stream * 0.98]
        if slower:
            print(f"  {row.variant}: aggregate below one stream at {slower} streams")
    print(
        f"  evals per variant: bench/tool_calling.py --models {model} --split test --variant NAME;"
        f" bench/knowledge_answers.py --model {model} --split test --variant NAME"
    )


def _change(ppl: dict[str, float], base: dict[str, float], language: str) -> float:
    if language not in ppl or language not in base:
        return float("nan")
    return (ppl[language] / base[language] - 1) * 100


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="0.5b,1.5b")
    parser.add_argument(
        "--variants", default=None, help="comma-separated (default: packaged + every pinned one)"
    )
    parser.add_argument("--levels", default="2,4,8")
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--repeat", type=int, default=3, help="single-stream requests")
    parser.add_argument("--perplexity", action="store_true")
    parser.add_argument(
        "--ppl-tokens", type=int, default=None, help="score only the first N tokens per language"
    )
    parser.add_argument("--speculative", action="store_true", help="also with speculative decoding")
    parser.add_argument("--draft-variant", default="packaged", help="the 0.5B file that drafts (e.g. q4_0)")
    parser.add_argument("--smoke", action="store_true", help="0.5B packaged, 8 tokens, 2 streams: seconds")
    args = parser.parse_args()
    if args.smoke:
        args.models, args.variants, args.levels, args.tokens, args.repeat = "0.5b", "packaged", "2", 8, 1
        args.perplexity, args.ppl_tokens = True, 2048
        args.speculative, args.spec_setups = True, ["plain", "lookup, always"]
    args.levels = [int(n) for n in args.levels.split(",")]

    def variant_names(model: str) -> list[str]:
        if args.variants:
            return [v.strip() for v in args.variants.split(",")]
        pinned = weights.package_for(PACKAGES[model]).variants
        return [variants.PACKAGED, *(v.name for v in pinned)]

    args.variant_names = variant_names
    args.speculation = {}
    args.spec_setups = getattr(args, "spec_setups", list(SPECULATION))
    print(f"load average before: {loadavg()}", flush=True)
    results = {model: measure_model(model, args) for model in args.models.split(",")}
    print(f"load average after: {loadavg()}")
    for model, (raw_one, rows) in results.items():
        print_table(model, raw_one, rows, args.levels)
    for (model, variant), table in args.speculation.items():
        print_speculation(model, variant, table)


if __name__ == "__main__":
    main()
