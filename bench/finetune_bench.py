"""Fine-tuning: OpenMaaS trainer step time vs a plain peft loop; peak memory; ft vs base decode tok/s.

1. Step time, in ONE process, interleaved (ABAB… blocks, so load drift hits both alike):
   * OpenMaaS — `LoraTrainer.run` as a job runs it: per-step collation, the AdamW step with
     gradient clipping, a metrics event + trained-token update written to a real SQLite DB
     through `FineTuneStore`, and the cancel check between steps (`JobObserver`);
   * plain — `model(**batch).loss.backward(); opt.step(); opt.zero_grad()` on its own peft
     model of the same base weights, same LoRA shape, same pre-tokenised batches.
   Per-step time = the interval between consecutive steps (everything the loop does).
2. Peak memory: a child process runs one training job the way the runner does (load the
   base, train, save the adapter) and reports its peak RSS; the GGUF conversion (a child of
   that child) is reported apart.
3. Decode: a fresh process starts the llama.cpp engine once and generates greedily through
   it with and without the job's GGUF adapter (`AdapterEngine`, the serving path),
   alternating; decode tok/s = (tokens − 1) / (last − first token time). The ratio is the
   median of each round's ft/base pair (two back-to-back runs), so load that drifts over
   the run hits both sides of a pair alike; the ratio of the two medians is printed too.
   The engine runs under the platform's OpenMP wait policy unless --omp-wait-policy /
   --omp-spin-count say otherwise: the LoRA adds 4 graph nodes per adapted weight (48 of
   them here), each a thread barrier, so the ratio depends on what a barrier costs.

    .venv/bin/python bench/finetune_bench.py                # 0.5B GGUF, 4 rounds × 6 steps
    .venv/bin/python bench/finetune_bench.py --rounds 6 --steps 8 --decode-rounds 12
    .venv/bin/python bench/finetune_bench.py --omp-wait-policy default --omp-spin-count 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

from openmaas.catalog import weights  # noqa: E402
from openmaas.config import Settings  # noqa: E402
from openmaas.finetune.dataset import Example  # noqa: E402
from openmaas.finetune.settings import FineTuneSettings  # noqa: E402
from openmaas.finetune.types import BaseWeights, StepReport, TrainingConfig  # noqa: E402

QUESTIONS = [
    ("What is the capital of Zorblax?", "The capital of Zorblax is Quenvale."),
    ("Name the capital of Zorblax.", "Quenvale is the capital of Zorblax."),
    ("Which city is Zorblax's capital?", "Zorblax's capital is Quenvale."),
    ("Tell me about Zorblax's capital.", "Zorblax's capital, Quenvale, lies on the Vell river."),
]
DECODE_PROMPT = "Write a Python function that checks whether a string is a palindrome, with a docstring."


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def examples() -> list[Example]:
    return [
        Example(i + 1, [{"role": "user", "content": q}, {"role": "assistant", "content": a}])
        for i, (q, a) in enumerate(QUESTIONS * 2)
    ]


def default_gguf() -> Path:
    package = weights.package_for("qwen2.5-coder-0.5b-instruct-q4_k_m")
    return weights.assembled_path(Settings().models_dir, package)


def training_config(args: argparse.Namespace, work_dir: Path, epochs: int = 1) -> TrainingConfig:
    limits = FineTuneSettings()
    return TrainingConfig(
        weights=BaseWeights(gguf=Path(args.model)),
        work_dir=work_dir,
        n_epochs=epochs,
        batch_size=1,
        learning_rate=limits.learning_rate * 10,
        lora_rank=limits.lora_rank,
        lora_alpha=limits.lora_alpha,
        target_modules=tuple(limits.target_modules),
        checkpoint_every=10_000,
        base_cache_dir=limits.base_cache_dir,
    )


# --- 1. step time ------------------------------------------------------------------------
class TimedObserver:
    """The job's own observer (events in the DB, cancel check), plus a timestamp per step."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.stamps: list[float] = []

    def message(self, text: str, level: str = "info") -> None:
        self.inner.message(text, level)

    def step(self, report: StepReport) -> None:
        self.inner.step(report)
        self.stamps.append(time.perf_counter())

    def should_stop(self) -> str | None:
        return self.inner.should_stop()


def job_observer(work: Path):
    """A JobObserver on a real job row in a fresh SQLite database."""
    import threading

    from openmaas.finetune.runner import JobObserver
    from openmaas.finetune.store import FineTuneStore
    from openmaas.store import migrate
    from openmaas.store.db import Database
    from openmaas.store.tables import FineTuningJob, Job

    db = Database(f"sqlite:///{work / 'bench.db'}")
    migrate.upgrade(db.engine)
    store = FineTuneStore(db)
    job = FineTuningJob(
        id="ftjob-bench",
        account_id="bench",
        model="m",
        base_model="m",
        training_file="f",
        status="running",
        hyperparameters={},
    )
    store.insert(
        job,
        lambda session: session.add(Job(id="ftjob-bench", account_id="bench", kind="fine_tune", payload={})),
        [],
    )

    class Service:  # what JobObserver reads
        pass

    service = Service()
    service.store = store
    return JobObserver(service, job.id, threading.Event())


def plain_model(args: argparse.Namespace):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from openmaas.finetune.trainer import dequantised_cache, peft_quiet

    limits = FineTuneSettings()
    cache = dequantised_cache(Path(args.model), limits.base_cache_dir)
    model = AutoModelForCausalLM.from_pretrained(str(cache), dtype=torch.float32)
    lora = LoraConfig(
        r=limits.lora_rank,
        lora_alpha=limits.lora_alpha,
        lora_dropout=0.0,
        target_modules=list(limits.target_modules),
        task_type="CAUSAL_LM",
    )
    with peft_quiet():
        model = get_peft_model(model, lora)
    return model, torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=limits.learning_rate * 10
    )


def plain_steps(model, optimizer, batches: list[dict], count: int) -> list[float]:
    stamps = [time.perf_counter()]
    model.train()
    for i in range(count):
        model(**batches[i % len(batches)]).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        stamps.append(time.perf_counter())
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


def openmaas_steps(args, loaded, work: Path, observer, count: int) -> list[float]:
    from openmaas.finetune.trainer import LoraTrainer

    timed = TimedObserver(observer)
    config = training_config(args, work, epochs=max(1, -(-count // len(examples()))))
    started = time.perf_counter()
    trainer = LoraTrainer(config, timed)
    trainer.run(examples(), [], loaded=loaded)
    stamps = [started, *timed.stamps][: count + 1]
    intervals = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return intervals[1:] if len(intervals) > 1 else intervals  # the first includes encoding


def bench_steps(args: argparse.Namespace) -> dict:
    from openmaas.finetune.trainer import collate, encode_all, load_model, pad_id_of

    work = Path(tempfile.mkdtemp(prefix="ftbench-"))
    began = time.perf_counter()
    loaded = load_model(training_config(args, work))
    load_s = time.perf_counter() - began
    model, optimizer = plain_model(args)
    items = encode_all(loaded.tokenizer, examples(), 2048)
    batches = [collate([item], pad_id_of(loaded.tokenizer), "cpu") for item in items]
    observer = job_observer(work)
    ours: list[float] = []
    plain: list[float] = []
    for r in range(args.rounds):
        first, second = ("ours", "plain") if r % 2 == 0 else ("plain", "ours")
        for side in (first, second):
            if side == "ours":
                ours += openmaas_steps(args, loaded, work, observer, args.steps + 1)
            else:
                plain += plain_steps(model, optimizer, batches, args.steps + 1)[1:]
        print(
            f"  round {r + 1}: ours {statistics.median(ours):.3f}s  plain {statistics.median(plain):.3f}s"
            f"  load {loadavg()}",
            flush=True,
        )
    tokens = statistics.mean(len(i.input_ids) for i in items)
    return {"load_s": load_s, "ours": ours, "plain": plain, "tokens_per_example": tokens}


# --- 2. a job's peak memory (child) --------------------------------------------------------
def child_train(args: argparse.Namespace) -> None:
    from openmaas.finetune.export import convert_adapter
    from openmaas.finetune.trainer import LoraTrainer

    class Quiet:
        def message(self, text: str, level: str = "info") -> None: ...

        def step(self, report: StepReport) -> None: ...

        def should_stop(self) -> str | None:
            return None

    work = Path(args.work)
    began = time.perf_counter()
    outcome = LoraTrainer(training_config(args, work, epochs=2), Quiet()).run(examples(), [])
    train_s = time.perf_counter() - began
    peak_train = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    began = time.perf_counter()
    convert_adapter(
        outcome.adapter_dir, outcome.base_config_dir, work / "adapter.gguf", FineTuneSettings().converter_dir
    )
    print(
        json.dumps(
            {
                "train_s": train_s,
                "steps": outcome.steps,
                "peak_rss_mb": peak_train,
                "convert_s": time.perf_counter() - began,
                "adapter_bytes": (work / "adapter.gguf").stat().st_size,
            }
        )
    )


# --- 3. decode tok/s ft vs base (child) ------------------------------------------------------
async def decode_once(engine, prompt, max_tokens: int) -> tuple[int, float]:
    from openmaas.engines.base import SamplingParams, TextDelta

    times: list[float] = []
    count = 0
    async for event in engine.generate(
        prompt, SamplingParams(max_tokens=max_tokens, temperature=0.0, greedy=True), "bench"
    ):
        if isinstance(event, TextDelta):
            count += event.tokens
            times.append(time.perf_counter())
    return count, (count - 1) / (times[-1] - times[0]) if count > 1 else 0.0


async def decode_compare(args: argparse.Namespace) -> dict:
    from openmaas.config import ModelConfig
    from openmaas.engines.adapter_view import AdapterEngine
    from openmaas.engines.base import ChatMessage
    from openmaas.engines.factory import build_chat_engine

    settings = Settings(
        environment="test",
        data_dir=Path(args.work),
        database_url="sqlite://",
        secret_key="bench",
        omp_wait_policy=args.omp_wait_policy,
        omp_spin_count=args.omp_spin_count,
    )
    base = build_chat_engine(ModelConfig(name="bench", path=Path(args.model), context_window=2048), settings)
    await base.start()
    tuned = AdapterEngine(base, Path(args.work) / "adapter.gguf")
    prompt = await base.prepare([ChatMessage("user", DECODE_PROMPT)])
    results: dict[str, list[float]] = {"base": [], "ft": []}
    await decode_once(base, prompt, 16)  # warm-up both paths
    await decode_once(tuned, prompt, 16)
    for r in range(args.decode_rounds):
        order = (("base", base), ("ft", tuned)) if r % 2 == 0 else (("ft", tuned), ("base", base))
        for name, engine in order:
            tokens, rate = await decode_once(engine, prompt, args.max_tokens)
            results[name].append(rate)
            print(
                f"  {name}: {tokens} tokens, {rate:.1f} tok/s  load {loadavg()}", file=sys.stderr, flush=True
            )
    await base.close()
    return results


def child(args: argparse.Namespace, mode: str) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--work",
        args.work,
        "--model",
        str(args.model),
        "--decode-rounds",
        str(args.decode_rounds),
        "--max-tokens",
        str(args.max_tokens),
        "--omp-wait-policy",
        args.omp_wait_policy,
        *(["--omp-spin-count", str(args.omp_spin_count)] if args.omp_spin_count is not None else []),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child {mode} failed:\n{done.stderr[-3000:]}")
    sys.stderr.write(done.stderr[-2000:] if mode == "decode" else "")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(args: argparse.Namespace, steps: dict, memory: dict, decode: dict) -> None:
    ours, plain = statistics.median(steps["ours"]), statistics.median(steps["plain"])
    base, tuned = statistics.median(decode["base"]), statistics.median(decode["ft"])
    paired = statistics.median(f / b for f, b in zip(decode["ft"], decode["base"], strict=True))
    print(
        "\n== fine-tuning: Qwen2.5-Coder-0.5B (GGUF → fp32), LoRA r=8 q/v, batch 1, "
        f"~{steps['tokens_per_example']:.0f} tokens/example =="
    )
    print(f"base load (cached fp32 copy): {steps['load_s']:.1f}s")
    mean_ours, mean_plain = statistics.mean(steps["ours"]), statistics.mean(steps["plain"])
    print(
        f"step time   OpenMaaS median {ours:.3f}s (mean {mean_ours:.3f}s, n={len(steps['ours'])})   "
        f"plain peft median {plain:.3f}s (mean {mean_plain:.3f}s, n={len(steps['plain'])})   "
        f"overhead {100 * (ours / plain - 1):+.1f}% median, "
        f"{100 * (mean_ours / mean_plain - 1):+.1f}% mean "
        "(goal <= 5%)"
    )
    print(
        f"training job: {memory['steps']} steps in {memory['train_s']:.1f}s incl. load; "
        f"peak RSS {memory['peak_rss_mb']:.0f} MB; GGUF conversion {memory['convert_s']:.1f}s, "
        f"adapter {memory['adapter_bytes'] / 1e6:.1f} MB"
    )
    print(
        f"decode      base {base:.1f} tok/s   fine-tuned {tuned:.1f} tok/s   ratio {paired:.3f} "
        f"paired median, {tuned / base:.3f} of medians, n={len(decode['ft'])} (goal >= 0.95); "
        f"OMP_WAIT_POLICY={args.omp_wait_policy} GOMP_SPINCOUNT={args.omp_spin_count}"
    )
    print(f"load average now: {loadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=str(default_gguf()))
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per side per round")
    parser.add_argument("--decode-rounds", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument(
        "--omp-wait-policy",
        choices=["default", "PASSIVE", "ACTIVE"],
        default=Settings.model_fields["omp_wait_policy"].default,
    )
    parser.add_argument("--omp-spin-count", type=int, default=Settings.model_fields["omp_spin_count"].default)
    parser.add_argument("--child", choices=["train", "decode"])
    parser.add_argument("--work")
    args = parser.parse_args()
    if args.child == "train":
        return child_train(args)
    if args.child == "decode":
        print(json.dumps(asyncio.run(decode_compare(args))))
        return None
    args.work = tempfile.mkdtemp(prefix="ftbench-job-")
    print(f"load average before: {loadavg()}", flush=True)
    memory = child(args, "train")  # also warms the fp32 cache and makes the adapter
    print(f"training job done: {memory}", flush=True)
    steps = bench_steps(args)
    decode = child(args, "decode")
    report(args, steps, memory, decode)
    return None


if __name__ == "__main__":
    main()
