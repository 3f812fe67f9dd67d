"""Tool-calling quality of the packaged Qwen2.5-Coder GGUFs, on a dev or test split.

Cases: `bench/data/tool_cases.jsonl` (written by bench/tool_cases.py: 164 cases, Chinese and
English, several styles, relative dates, multi-turn slot filling, regex-patterned / enum /
format fields, nested objects and arrays, distractor tools, and 25 where no tool fits), each
with a fixed `split` (dev / test). Tune on dev; report both. The older 36 cases
(`bench/data/tool_prompts.jsonl`, single user turn) still load with `--data`.

Modes on each model:

* auto      — the API default: what `ChatService` sends (today's date in the system message,
              chat.prompting) through `Generation` in auto mode (unconstrained first, lenient
              parse, grammar-constrained retry when the output starts like a call).
* required  — `tool_choice="required"` (grammar from the first token); no-tool cases skipped.
* raw       — no constraint, parsed leniently (`tags` counts properly closed <tool_call>).

Metrics per model × mode: valid = at least one call naming a tool of the case with arguments
valid against its schema (checked here independently of the parser) — for a no-tool case,
valid = no invalid call; function = the first valid call names the expected tool — for a
no-tool case, no call at all; arguments = that call also satisfies every argument rule
(bench/tool_cases.py lists the rules: exact, approximate, substring, relative dates against
`--today`, arrays, dotted paths into nested objects). Printed overall and per language, style
and kind (call / no-tool).

    .venv/bin/python bench/tool_calling.py --split dev                 # both models, auto mode
    .venv/bin/python bench/tool_calling.py --split test --models 1.5b
    .venv/bin/python bench/tool_calling.py --split dev --no-date       # without the date note
    .venv/bin/python bench/tool_calling.py --smoke                     # 4 cases, 0.5B, seconds
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
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jsonschema
from _weights import VARIANT_HELP, model_file

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "tool_cases.jsonl"
MODELS = {
    "0.5b": "qwen2.5-coder-0.5b-instruct-q4_k_m",
    "1.5b": "qwen2.5-coder-1.5b-instruct-q4_k_m",
}
MODES = ("raw", "required", "auto")
CLOSED_TAG = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)


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


def spread(items: list[Any], n: int | None) -> list[Any]:
    """n items evenly spread over the list (a fixed sample that keeps the mix of kinds)."""
    if not n or n >= len(items):
        return items
    return [items[i * len(items) // n] for i in range(n)]


def has_date_rule(case: dict[str, Any]) -> bool:
    return any("date" in rule for rule in (case["expected"].get("arguments") or {}).values())


def load_cases(
    path: Path, limit: int | None, split: str = "all", sample: int | None = None, only_dates: bool = False
) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        cases = [json.loads(line) for line in lines if line.strip()]
    for case in cases:  # the older single-turn format
        case.setdefault("messages", [{"role": "user", "content": case.get("user", "")}])
        case.setdefault("split", "dev")
        case.setdefault("style", "plain")
    if split != "all":
        cases = [c for c in cases if c["split"] == split]
    if only_dates:
        cases = [c for c in cases if has_date_rule(c)]
    cases = spread(cases, sample)
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


def expected_date(rule: dict[str, int], today: date) -> set[str]:
    if "days" in rule:
        return {(today + timedelta(days=rule["days"])).isoformat()}
    if "weekday" in rule:
        ahead = (rule["weekday"] - today.weekday()) % 7 or 7
        first = today + timedelta(days=ahead)
        return {first.isoformat(), (first + timedelta(days=7)).isoformat()}
    raise ValueError(f"unknown date rule {rule}")


def value_matches(actual: Any, rule: dict[str, Any], today: date | None = None) -> bool:
    if "equals" in rule:
        want = rule["equals"]
        if isinstance(want, bool) or not isinstance(want, int | float):
            return actual == want
        return (
            isinstance(actual, int | float)
            and not isinstance(actual, bool)
            and abs(actual - want) <= 1e-6 * max(1.0, abs(want))
        )
    if "approx" in rule:
        return (
            isinstance(actual, int | float)
            and not isinstance(actual, bool)
            and abs(actual - rule["approx"]) <= rule["tol"]
        )
    if "contains" in rule:
        if actual is None or isinstance(actual, dict | list):
            return False
        text = str(actual).lower()
        return any(alt.lower() in text for alt in rule["contains"])
    if "date" in rule:
        return isinstance(actual, str) and actual[:10] in expected_date(rule["date"], today or date.today())
    if "has_all" in rule:
        return isinstance(actual, list) and all(
            any(want.lower() in str(item).lower() for item in actual) for want in rule["has_all"]
        )
    raise ValueError(f"unknown rule {rule}")


def lookup(args: Any, path: str) -> Any:
    """`customer.name`, `items.0.sku`: a dotted path into nested objects and arrays."""
    value = args
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def score(case: dict[str, Any], calls: list[tuple[str, str]], today: date | None = None) -> dict[str, Any]:
    tools = {t["function"]["name"]: t["function"].get("parameters") or {} for t in case["tools"]}
    expected = case["expected"]
    valid = [c for c in calls if call_is_valid(c[0], c[1], tools)]
    first = valid[0][0] if valid else None
    if expected["name"] is None:  # no tool fits: the right answer is no call
        return {
            "valid": len(valid) == len(calls),
            "function": not calls,
            "arguments": not calls,
            "first": first or (calls[0][0] if calls else None),
            "wrong_args": [],
            "n_calls": len(calls),
        }
    wrong: list[str] = []
    good_args = False
    if first == expected["name"]:
        args = json.loads(valid[0][1])
        wrong = [
            k for k, rule in expected["arguments"].items() if not value_matches(lookup(args, k), rule, today)
        ]
        good_args = not wrong
    return {
        "valid": bool(valid),
        "function": first == expected["name"],
        "arguments": good_args,
        "first": first,
        "wrong_args": wrong,
        "n_calls": len(calls),
    }


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
    return {
        "text": text,
        "calls": calls,
        "finish": finish,
        "grammar_passes": sum(counting.grammars),
        "passes": len(counting.grammars),
    }


async def run_model(
    model_key: str, cases: list[dict[str, Any]], args: argparse.Namespace, rows_path: Path
) -> None:
    from openmaas.chat.prompting import prepare_request
    from openmaas.chat.tools import ToolSpec, parse_function_tools, parse_tool_calls
    from openmaas.chat.types import ChatRequest
    from openmaas.engines.base import ChatMessage, SamplingParams
    from openmaas.engines.llamacpp import LlamaCppEngine

    today = date.fromisoformat(args.today)
    modes = modes_of(args.modes)
    path = model_file(args.models_dir, model_key, args.variant)
    engine = LlamaCppEngine(path, context_window=args.n_ctx, threads=args.threads, parallel=1)
    began = time.perf_counter()
    await engine.start()
    print(
        f"[{model_key}] loaded {path.name} in {time.perf_counter() - began:.1f} s; load(1/5/15m)={loadavg()}",
        file=sys.stderr,
        flush=True,
    )
    params = SamplingParams(max_tokens=args.max_tokens, temperature=0.0, greedy=True)
    filler = await engine.prepare([ChatMessage(role="user", content="Hi")])
    one_token = SamplingParams(max_tokens=1, temperature=0.0, greedy=True)
    rows = []
    try:
        for case in cases:
            functions = parse_function_tools(case["tools"])
            base = ChatRequest(
                model=model_key,
                messages=[ChatMessage(m["role"], m["content"]) for m in case["messages"]],
                tools=ToolSpec(functions, "auto"),
            )
            # what ChatService.open_run sends the model (the date note), unless --no-date
            messages = base.messages if args.no_date else prepare_request(base, today).messages
            prompt = await engine.prepare(messages, tools=[f.template_form() for f in functions])
            row: dict[str, Any] = {
                "model": model_key,
                "id": case["id"],
                "lang": case["lang"],
                "style": case["style"],
                "split": case["split"],
                "kind": "call" if case["expected"]["name"] else "no-tool",
                "prompt_tokens": prompt.token_count,
            }
            for mode in modes:
                if mode == "required" and row["kind"] == "no-tool":
                    continue
                await flush(engine, filler, one_token)
                start = time.perf_counter()
                if mode == "raw":
                    text, finish = await run_raw(engine, prompt, params)
                    parsed = parse_tool_calls(text, functions)
                    out = {"text": text, "finish": finish, "calls": [(c.name, c.arguments) for c in parsed]}
                    out["tags"] = (
                        bool(parsed)
                        and bool(CLOSED_TAG.search(text))
                        and text.lstrip().startswith("<tool_call>")
                    )
                else:
                    request = ChatRequest(model=model_key, messages=messages, tools=ToolSpec(functions, mode))
                    out = await run_generation(engine, prompt, params, request)
                out["seconds"] = time.perf_counter() - start
                out.update(score(case, out["calls"], today))
                row[mode] = out
            rows.append(row)
            rows_path.write_text(json.dumps(rows, ensure_ascii=False))  # the parent keeps a partial run
            done = [m for m in modes if m in row]
            marks = " ".join(
                f"{m}:{'V' if row[m]['valid'] else '-'}{'F' if row[m]['function'] else '-'}"
                f"{'A' if row[m]['arguments'] else '-'}"
                for m in done
            )
            times = " / ".join(f"{row[m]['seconds']:.1f}" for m in done)
            print(f"[{model_key}] {case['id']}  {marks}  ({times} s)", file=sys.stderr, flush=True)
    finally:
        await engine.close()


def child(args: argparse.Namespace) -> None:
    cases = load_cases(args.data, args.limit, args.split, args.sample, args.only_dates)
    asyncio.run(run_model(args.child, cases, args, Path(args.child_out)))


# --- the parent: tables -----------------------------------------------------------------------
def pct(n: int, total: int) -> str:
    return f"{100 * n / total:5.1f}% ({n:2d}/{total})" if total else "   n/a"


def modes_of(text: str) -> list[str]:
    return [m for m in MODES if m in text.split(",")]


def present(rows: list[dict[str, Any]]) -> list[str]:
    return [m for m in MODES if any(m in r for r in rows)]


def summarise(rows: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    cells = [r[mode] for r in rows if mode in r]
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


def rates(s: dict[str, Any]) -> str:
    return " ".join(f"{pct(s[key], s['n']):>13}" for key in ("valid", "function", "arguments"))


def print_tables(results: dict[str, list[dict[str, Any]]]) -> list[str]:
    labels = {"raw": "raw (no constraint)", "required": "required (grammar)", "auto": "auto (API default)"}
    head = (
        f"{'model':5}  {'mode / slice':24} {'valid call':>13} {'correct fn':>13} {'correct args':>13} "
        f"{'latency':>8}  notes"
    )
    print("\n" + head)
    print("-" * len(head))
    goals = []
    for model, rows in results.items():
        for mode in present(rows):
            s = summarise(rows, mode)
            notes = f">1 call {s['multi']}"
            if mode == "raw":
                notes += f", proper <tool_call> tags {pct(s['tags'], s['n'])}"
            elif mode == "auto":
                notes += f", grammar retry {s['retried']}, text answer {s['text']}"
            print(f"{model:5}  {labels[mode]:24} {rates(s)} {s['latency']:7.2f}s  {notes}")
            slices = [("lang", v) for v in ("zh", "en", "mixed")] + [("kind", v) for v in ("call", "no-tool")]
            slices += [("style", v) for v in sorted({r["style"] for r in rows})]
            for key, value in slices:
                part = [r for r in rows if r.get(key) == value and mode in r]
                if part:
                    print(f"{'':5}    {key + '=' + value:22} {rates(summarise(part, mode))}")
        if "auto" in rows[0]:
            s = summarise(rows, "auto")
            for key, goal in (("valid", 0.98), ("function", 0.90), ("arguments", 0.75)):
                met = s[key] >= goal * s["n"]
                goals.append(
                    f"{model} auto: >= {goal:.0%} {key}: {'MET' if met else 'NOT MET'} ({s[key]}/{s['n']})"
                )
    print("\nGOALS (issue #20, for the default glm-4 on the test split)")
    for line in goals:
        print("  " + line)
    return goals


def print_failures(results: dict[str, list[dict[str, Any]]]) -> None:
    print("\nFAILURES (case, mode: first valid call / wrong key args / raw text head)")
    for model, rows in results.items():
        for row in rows:
            for mode in present(rows):
                cell = row.get(mode)
                if cell is None or cell["arguments"]:
                    continue
                text = cell["text"].replace("\n", "\\n")[:110]
                calls = json.dumps(cell["calls"], ensure_ascii=False)[:160]
                why = (
                    "no valid call"
                    if not cell["valid"]
                    else f"called {cell['first']}"
                    if not cell["function"]
                    else f"wrong {cell['wrong_args']}"
                )
                print(f"  {model} {row['id']} {mode:8} {why:32} {calls} {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", default="0.5b,1.5b", help="comma-separated: " + ",".join(MODELS))
    parser.add_argument("--modes", default="auto", help="comma-separated: " + ",".join(MODES))
    parser.add_argument("--split", default="dev", choices=("dev", "test", "all"))
    parser.add_argument("--limit", type=int, default=None, help="only the first N cases")
    parser.add_argument("--sample", type=int, default=None, help="N cases spread evenly over the split")
    parser.add_argument("--only-dates", action="store_true", help="only cases with a relative-date argument")
    parser.add_argument(
        "--today",
        default=date.today().isoformat(),
        help="the date relative dates resolve against (and the prompt's date note)",
    )
    parser.add_argument("--no-date", action="store_true", help="leave the date note out (the old prompt)")
    parser.add_argument("--smoke", action="store_true", help="4 cases of the split, 0.5B, auto: seconds")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--models-dir", type=Path, default=Path("~/.openmaas/models").expanduser())
    parser.add_argument("--variant", default="packaged", help=VARIANT_HELP)
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
    if args.smoke:
        args.models, args.modes, args.limit, args.max_tokens = "0.5b", "auto", 4, 96
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; known: {sorted(MODELS)}")
    if not modes_of(args.modes):
        parser.error(f"--modes: pick from {','.join(MODES)}")
    cases = load_cases(args.data, args.limit, args.split, args.sample, args.only_dates)
    print(
        f"tool calling: {len(cases)} {args.split} cases ({sum(c['lang'] == 'zh' for c in cases)} zh, "
        f"{sum(c['expected']['name'] is None for c in cases)} no-tool), models {models}, "
        f"modes {args.modes}, "
        f"today {args.today}, date note {'off' if args.no_date else 'on'}, greedy, "
        f"max_tokens={args.max_tokens}, threads={args.threads}; load(1/5/15m)={loadavg()}",
        flush=True,
    )
    print(f"source: {source_revision()}", flush=True)
    if args.details:
        args.details.write_text("")
    results: dict[str, list[dict[str, Any]]] = {}
    began = time.perf_counter()
    for model in models:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            command = [
                sys.executable,
                __file__,
                "--child",
                model,
                "--child-out",
                out.name,
                "--data",
                str(args.data),
                "--models-dir",
                str(args.models_dir),
                "--variant",
                args.variant,
                "--threads",
                str(args.threads),
                "--max-tokens",
                str(args.max_tokens),
                "--n-ctx",
                str(args.n_ctx),
                "--modes",
                args.modes,
                "--split",
                args.split,
                "--today",
                args.today,
            ]
            command += ["--limit", str(args.limit)] if args.limit else []
            command += ["--sample", str(args.sample)] if args.sample else []
            command += ["--only-dates"] if args.only_dates else []
            command += ["--no-date"] if args.no_date else []
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
