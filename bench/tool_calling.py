"""Tool-calling quality: the packaged Qwen2.5-Coder GGUFs with and without a grammar.

Every case in `bench/data/tool_prompts.jsonl` (Chinese and English, 1–3 tools each, with the
expected function and key arguments) is run in three modes on each model:

* raw       — WITHOUT constraint: the model's own greedy output (tools in the chat template,
              no grammar), parsed leniently by `parse_tool_calls` (tagged, fenced or bare JSON).
              `tags` additionally counts answers with properly closed `<tool_call>` blocks.
* required  — WITH constraint: `tool_choice="required"` through `Generation` (grammar from the
              first token).
* auto      — the API default: `Generation` in auto mode (unconstrained first, lenient parse,
              grammar-constrained retry when the output starts like a call but does not parse).

Metrics per model × mode, over all cases: valid = at least one call that names one of the
case's tools with arguments that are a JSON object valid against that tool's schema (checked
again here, independently of the parser); function = the first valid call names the expected
tool; arguments = that call also has every key argument right (exact for enums and numbers,
case-insensitive substring for free text); latency = mean wall time per case. `>1 call` counts
answers with more than one call (spurious extra calls: every case needs exactly one).
The engine has one slot, and a short unrelated request runs before each mode, so every mode
pays its full prompt prefill (as a fresh request would); auto's grammar retry reuses its own
first pass's prefill, as in the API.

Each model runs in its own child process with one engine (llama.cpp gets ~55% slower once a
second OS thread of a process has called into it; two engines in one process would do that).

    .venv/bin/python bench/tool_calling.py                        # both models, all cases
    .venv/bin/python bench/tool_calling.py --models 0.5b --limit 6
    .venv/bin/python bench/tool_calling.py --details /tmp/tool_calls.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import jsonschema

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "tool_prompts.jsonl"
MODELS = {
    "0.5b": "qwen2.5-coder-0.5b-instruct-q4_k_m",
    "1.5b": "qwen2.5-coder-1.5b-instruct-q4_k_m",
}
MODES = ("raw", "required", "auto")
CLOSED_TAG = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)
GOAL_VALID_CONSTRAINED = 1.0
GOAL_FUNCTION_1_5B = 0.90


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def source_revision() -> str:
    """The commit, and which files that matter here differ from it (results depend on them)."""
    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=HERE.parent, capture_output=True, text=True)
        return done.stdout.rstrip("\n")

    changed = git("status", "--porcelain", "--", "src/openmaas/chat", "src/openmaas/engines")
    files = [line[3:].removeprefix("src/openmaas/") for line in changed.splitlines()]
    return f"{git('rev-parse', '--short', 'HEAD')}" + (f" + uncommitted {', '.join(files)}" if files else "")


def load_cases(path: Path, limit: int | None) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        cases = [json.loads(line) for line in lines if line.strip()]
    return cases[:limit] if limit else cases


# --- scoring ---------------------------------------------------------------------------------
def call_is_valid(name: str, arguments: str, tools: dict[str, dict]) -> bool:
    """Names a tool of the case; arguments are a JSON object valid against its schema."""
    if name not in tools:
        return False
    try:
        args = json.loads(arguments)
    except (json.JSONDecodeError, TypeError):
        return False
    if not isinstance(args, dict):
        return False
    try:
        jsonschema.validate(args, tools[name])
    except jsonschema.ValidationError:
        return False
    return True


def value_matches(actual: Any, rule: dict[str, Any]) -> bool:
    if "equals" in rule:
        want = rule["equals"]
        if isinstance(want, bool) or not isinstance(want, int | float):
            return actual == want
        return (isinstance(actual, int | float) and not isinstance(actual, bool)
                and abs(actual - want) <= 1e-6 * max(1.0, abs(want)))
    if "contains" in rule:
        if actual is None or isinstance(actual, dict | list):
            return False
        text = str(actual).lower()
        return any(alt.lower() in text for alt in rule["contains"])
    raise ValueError(f"unknown rule {rule}")


def score(case: dict[str, Any], calls: list[tuple[str, str]]) -> dict[str, Any]:
    tools = {t["function"]["name"]: t["function"].get("parameters") or {} for t in case["tools"]}
    expected = case["expected"]
    valid = [c for c in calls if call_is_valid(c[0], c[1], tools)]
    first = valid[0][0] if valid else None
    wrong: list[str] = []
    good_args = False
    if first == expected["name"]:
        args = json.loads(valid[0][1])
        wrong = [k for k, rule in expected["arguments"].items() if not value_matches(args.get(k), rule)]
        good_args = not wrong
    return {"valid": bool(valid), "function": first == expected["name"], "arguments": good_args,
            "first": first, "wrong_args": wrong, "n_calls": len(calls)}


# --- the child: one model, one engine --------------------------------------------------------
class CountingEngine:
    """Forwards to the engine; remembers whether each generate call carried a grammar."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.context_window = engine.context_window
        self.grammars: list[bool] = []

    def generate(self, prompt: Any, params: Any, owner: str) -> AsyncIterator[Any]:
        self.grammars.append(params.grammar is not None)
        return self.engine.generate(prompt, params, owner)


async def flush(engine: Any, prompt: Any, params: Any) -> None:
    """Run a short unrelated prompt so the next request pays its full prompt prefill.

    The engine has one slot here, and a slot keeps the KV cache of its last request: without
    this, the 2nd and 3rd mode of a case would reuse the 1st one's prefill.
    """
    async with aclosing(engine.generate(prompt, params, "bench")) as stream:
        async for _ in stream:
            pass


async def run_raw(engine: Any, prompt: Any, params: Any) -> tuple[str, str]:
    from openmaas.engines.base import Finished, TextDelta

    text, finish = "", "?"
    async with aclosing(engine.generate(prompt, params, "bench")) as stream:
        async for event in stream:
            if isinstance(event, TextDelta):
                text += event.text
            elif isinstance(event, Finished):
                finish = event.reason
    return text, finish


async def run_generation(engine: Any, prompt: Any, params: Any, request: Any) -> dict[str, Any]:
    from openmaas.chat.generation import Generation
    from openmaas.chat.types import ToolCallsEvent
    from openmaas.engines.base import Finished, TextDelta

    counting = CountingEngine(engine)
    text, calls, finish = "", [], "?"
    async with aclosing(Generation(counting, prompt, params, "bench", request).events()) as events:
        async for event in events:
            if isinstance(event, ToolCallsEvent):
                calls = [(c.name, c.arguments) for c in event.calls]
            elif isinstance(event, TextDelta):
                text += event.text
            elif isinstance(event, Finished):
                finish = event.reason
    return {"text": text, "calls": calls, "finish": finish, "grammar_passes": sum(counting.grammars),
            "passes": len(counting.grammars)}


async def run_model(model_key: str, models_dir: Path, cases: list[dict[str, Any]], modes: list[str],
                    threads: int, max_tokens: int, n_ctx: int, rows_path: Path) -> None:
    from openmaas.catalog import weights
    from openmaas.chat.tools import ToolSpec, parse_function_tools, parse_tool_calls
    from openmaas.chat.types import ChatRequest
    from openmaas.engines.base import ChatMessage, SamplingParams
    from openmaas.engines.llamacpp import LlamaCppEngine

    path = weights.assembled_path(models_dir, weights.package_for(MODELS[model_key]))
    engine = LlamaCppEngine(path, context_window=n_ctx, threads=threads, parallel=1)
    began = time.perf_counter()
    await engine.start()
    print(f"[{model_key}] loaded {path.name} in {time.perf_counter() - began:.1f} s; "
          f"load(1/5/15m)={loadavg()}", file=sys.stderr, flush=True)
    params = SamplingParams(max_tokens=max_tokens, temperature=0.0, greedy=True)
    filler = await engine.prepare([ChatMessage(role="user", content="Hi")])
    one_token = SamplingParams(max_tokens=1, temperature=0.0, greedy=True)
    rows = []
    try:
        for case in cases:
            functions = parse_function_tools(case["tools"])
            messages = [ChatMessage(role="user", content=case["user"])]
            prompt = await engine.prepare(messages, tools=[f.template_form() for f in functions])
            row: dict[str, Any] = {"model": model_key, "id": case["id"], "lang": case["lang"],
                                   "prompt_tokens": prompt.token_count}
            for mode in modes:
                await flush(engine, filler, one_token)
                start = time.perf_counter()
                if mode == "raw":
                    text, finish = await run_raw(engine, prompt, params)
                    parsed = parse_tool_calls(text, functions)
                    out = {"text": text, "finish": finish, "calls": [(c.name, c.arguments) for c in parsed]}
                    out["tags"] = bool(parsed) and bool(CLOSED_TAG.search(text)) \
                        and text.lstrip().startswith("<tool_call>")
                else:
                    request = ChatRequest(model=model_key, messages=messages,
                                          tools=ToolSpec(functions, mode))
                    out = await run_generation(engine, prompt, params, request)
                out["seconds"] = time.perf_counter() - start
                out.update(score(case, out["calls"]))
                row[mode] = out
            rows.append(row)
            rows_path.write_text(json.dumps(rows, ensure_ascii=False))  # the parent keeps a partial run
            marks = " ".join(f"{m}:{'V' if row[m]['valid'] else '-'}{'F' if row[m]['function'] else '-'}"
                             f"{'A' if row[m]['arguments'] else '-'}" for m in modes)
            times = " / ".join(f"{row[m]['seconds']:.1f}" for m in modes)
            print(f"[{model_key}] {case['id']}  {marks}  ({times} s)", file=sys.stderr, flush=True)
    finally:
        await engine.close()


def child(args: argparse.Namespace) -> None:
    cases = load_cases(args.data, args.limit)
    asyncio.run(run_model(args.child, args.models_dir, cases, modes_of(args.modes), args.threads,
                          args.max_tokens, args.n_ctx, Path(args.child_out)))


# --- the parent: tables -----------------------------------------------------------------------
def pct(n: int, total: int) -> str:
    return f"{100 * n / total:5.1f}% ({n:2d}/{total})" if total else "   n/a"


def modes_of(text: str) -> list[str]:
    return [m for m in MODES if m in text.split(",")]


def present(rows: list[dict[str, Any]]) -> list[str]:
    return [m for m in MODES if m in rows[0]]


def summarise(rows: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    cells = [r[mode] for r in rows]
    out = {key: sum(c[key] for c in cells) for key in ("valid", "function", "arguments")}
    out["n"] = len(cells)
    out["latency"] = sum(c["seconds"] for c in cells) / max(len(cells), 1)
    out["multi"] = sum(1 for c in cells if c["n_calls"] > 1)
    if mode == "raw":
        out["tags"] = sum(c["tags"] for c in cells)
    if mode == "auto":
        out["retried"] = sum(1 for c in cells if c["grammar_passes"])
        out["text"] = sum(1 for c in cells if not c["calls"])
    return out


def print_tables(results: dict[str, list[dict[str, Any]]]) -> list[str]:
    labels = {"raw": "raw (no constraint)", "required": "required (grammar)", "auto": "auto (API default)"}
    head = (f"{'model':5}  {'mode':21} {'valid call':>13} {'correct fn':>13} {'correct args':>13} "
            f"{'latency':>8}  notes")
    print("\n" + head)
    print("-" * len(head))
    for model, rows in results.items():
        for mode in present(rows):
            s = summarise(rows, mode)
            notes = f">1 call {s['multi']}"
            if mode == "raw":
                notes += f", proper <tool_call> tags {pct(s['tags'], s['n'])}"
            elif mode == "auto":
                notes += f", grammar retry {s['retried']}, text answer {s['text']}"
            rates = " ".join(f"{pct(s[key], s['n']):>13}" for key in ("valid", "function", "arguments"))
            print(f"{model:5}  {labels[mode]:21} {rates} {s['latency']:7.2f}s  {notes}")
        for lang in ("zh", "en"):
            part = [r for r in rows if r["lang"] == lang]
            if part:
                cells = "  ".join(f"{m} fn {summarise(part, m)['function']}/{len(part)} "
                                  f"args {summarise(part, m)['arguments']}/{len(part)}"
                                  for m in present(rows))
                print(f"{'':5}  {lang + ' only':21} {cells}")
    print("\nGOALS")
    goals = []
    for model, rows in results.items():
        if "required" not in rows[0]:
            continue
        s = summarise(rows, "required")
        met = s["valid"] >= GOAL_VALID_CONSTRAINED * s["n"]
        goals.append(f"{model}: 100% valid calls with constraint (required): "
                     f"{'MET' if met else 'NOT MET'} ({s['valid']}/{s['n']})")
    if "1.5b" in results:
        for mode in [m for m in ("required", "auto", "raw") if m in results["1.5b"][0]]:
            s = summarise(results["1.5b"], mode)
            met = s["function"] >= GOAL_FUNCTION_1_5B * s["n"]
            goals.append(f"1.5b: >=90% correct function ({mode}): {'MET' if met else 'NOT MET'} "
                         f"({s['function']}/{s['n']})")
    for line in goals:
        print("  " + line)
    return goals


def print_failures(results: dict[str, list[dict[str, Any]]]) -> None:
    print("\nFAILURES (case, mode: first valid call / wrong key args / raw text head)")
    for model, rows in results.items():
        for row in rows:
            for mode in present(rows):
                cell = row[mode]
                if cell["arguments"]:
                    continue
                text = cell["text"].replace("\n", "\\n")[:110]
                why = ("no valid call" if not cell["valid"] else
                       f"called {cell['first']}" if not cell["function"] else f"wrong {cell['wrong_args']}")
                print(f"  {model} {row['id']} {mode:8} {why:32} finish={cell['finish']:6} {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", default="0.5b,1.5b", help="comma-separated: " + ",".join(MODELS))
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: " + ",".join(MODES))
    parser.add_argument("--limit", type=int, default=None, help="only the first N cases")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--models-dir", type=Path, default=Path("~/.openmaas/models").expanduser())
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--details", type=Path, default=None, help="write every case's outputs here (JSONL)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; known: {sorted(MODELS)}")
    if not modes_of(args.modes):
        parser.error(f"--modes: pick from {','.join(MODES)}")
    cases = load_cases(args.data, args.limit)
    print(f"tool calling: {len(cases)} cases ({sum(c['lang'] == 'zh' for c in cases)} zh), models {models}, "
          f"greedy, max_tokens={args.max_tokens}, threads={args.threads}; load(1/5/15m)={loadavg()}",
          flush=True)
    print(f"source: {source_revision()}", flush=True)
    if args.details:
        args.details.write_text("")
    results: dict[str, list[dict[str, Any]]] = {}
    began = time.perf_counter()
    for model in models:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            command = [sys.executable, __file__, "--child", model, "--child-out", out.name,
                       "--data", str(args.data), "--models-dir", str(args.models_dir),
                       "--threads", str(args.threads), "--max-tokens", str(args.max_tokens),
                       "--n-ctx", str(args.n_ctx), "--modes", args.modes]
            command += ["--limit", str(args.limit)] if args.limit else []
            code = subprocess.run(command).returncode
            text = Path(out.name).read_text()
        rows = json.loads(text) if text else []
        if rows:
            results[model] = rows
        status = "done" if code == 0 else f"FAILED (exit {code})"
        print(f"[{model}] {status}: {len(rows)}/{len(cases)} cases; load(1/5/15m)={loadavg()}", flush=True)
        if args.details:
            with args.details.open("a", encoding="utf-8") as details:
                for row in rows:
                    details.write(json.dumps(row, ensure_ascii=False) + "\n")
    if not results:
        sys.exit("no results")
    print_tables(results)
    print_failures(results)
    print(f"\ntotal {time.perf_counter() - began:.0f} s; load now {loadavg()}")


if __name__ == "__main__":
    main()
