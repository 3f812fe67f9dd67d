"""What the `<think>` splitter costs per decoded token, as a share of decode time.

The llama.cpp engine feeds every generated token's text through `ReasoningOutput`
(engines/reasoning.py: the tag splitter in front of the stop matcher) instead of the stop
matcher alone. This measures both on the same token stream — a thinking answer (about 60%
reasoning, tags split across tokens, then the answer) and a plain answer — in CPU time per
token, and divides the difference by the time llama.cpp takes to decode one token:

* with the packaged 0.5B GGUF assembled, that time is measured here (a greedy decode of
  `--decode-tokens` tokens through llama-cpp-python, one sequence, the engine's threads);
* without it (or with `--decode-tok-s N`), N tokens/s is taken as given (default: 62.7,
  the direct llama-cpp-python figure in bench/README.md, engine_overhead.py).

Goal: the splitter's added cost < 2% of decode time per token. `--smoke`: a few thousand
tokens and no model, to check the script runs (seconds).

    .venv/bin/python bench/think_splitter.py            # ~20 s, plus the decode measurement
    .venv/bin/python bench/think_splitter.py --smoke
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from openmaas.engines.base import ThinkTags  # noqa: E402
from openmaas.engines.reasoning import ReasoningOutput  # noqa: E402
from openmaas.engines.stops import StopMatcher  # noqa: E402

README_DECODE_TOK_S = 62.7
WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "with",
    "as",
    "was",
    "on",
    "be",
    "at",
    "by",
    "this",
    "had",
    "not",
    "are",
    "but",
    "from",
    "or",
    "have",
    "an",
    "they",
    "which",
    "one",
    "you",
    "were",
    "her",
    "all",
    "she",
    "there",
    "would",
    "their",
    "we",
    "him",
    "been",
    "has",
    "when",
    "who",
    "will",
    "more",
    "no",
    "if",
    "out",
    "so",
    "said",
    "what",
    "up",
    "its",
    "about",
    "into",
    "than",
    "them",
    "can",
    "only",
    "other",
    "new",
    "some",
    "could",
    "time",
    "these",
    "two",
    "may",
    "then",
    "do",
    "first",
    "any",
    "my",
    "now",
    "such",
    "like",
    "our",
    "over",
    "man",
    "me",
    "even",
    "most",
    "made",
    "after",
    "also",
    "did",
    "many",
    "before",
    "must",
    "through",
    "数",
    "学",
    "我",
    "们",
    "先",
    "计",
    "算",
    "然",
    "后",
    "检",
    "查",
    "答",
    "案",
    "是",
    "否",
    "正",
    "确",
]


def token_stream(tokens: int, seed: int = 7) -> list[str]:
    """Token-sized pieces: `<think>` split as `<`, `think`, `>`; ~60% reasoning, then the answer."""
    rng = random.Random(seed)
    thought = [rng.choice(WORDS) if i % 7 else "\n" for i in range(int(tokens * 0.6))]
    answer = [" " + rng.choice(WORDS) for _ in range(tokens - len(thought) - 8)]
    return ["<", "think", ">", "\n", *[" " + w for w in thought], "\n", "</", "think", ">", "\n\n", *answer]


def cpu_per_token(pieces: list[str], make, repeats: int) -> float:
    """Median CPU seconds per piece of feeding `pieces` through a fresh processor `repeats` times."""
    samples = []
    for _ in range(repeats):
        processor = make()
        start = time.process_time()
        for piece in pieces:
            processor.feed(piece)
        processor.flush()
        samples.append((time.process_time() - start) / len(pieces))
    samples.sort()
    return samples[len(samples) // 2]


def measured_decode_seconds(tokens: int) -> float | None:
    """Seconds per decoded token on the packaged 0.5B, or None when it is not assembled."""
    try:
        import llama_cpp

        from openmaas.catalog import weights
        from openmaas.config import Settings
    except ImportError:
        return None
    path = weights.assembled_path(
        Settings().models_dir, weights.package_for("qwen2.5-coder-0.5b-instruct-q4_k_m")
    )
    if not path.is_file():
        return None
    threads = len(os.sched_getaffinity(0))
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=1024, n_threads=threads, verbose=False)
    prompt = llm.tokenize(b"Write a long story about a robot who learns to paint.", True, True)
    produced, start = 0, None
    for _ in llm.generate(prompt, temp=0.0):
        produced += 1
        if start is None:
            start = time.perf_counter()  # decode only: after the prompt's first token
        if produced > tokens:
            break
    return (time.perf_counter() - start) / (produced - 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=4000, help="tokens per stream")
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--decode-tokens", type=int, default=128)
    parser.add_argument("--decode-tok-s", type=float, default=None, help="take this decode rate as given")
    parser.add_argument("--smoke", action="store_true", help="a quick run without the model")
    args = parser.parse_args()
    if args.smoke:
        args.tokens, args.repeats, args.decode_tok_s = 2000, 3, args.decode_tok_s or README_DECODE_TOK_S
    stops = ("<|endoftext|>", "Observation:")
    thinking = token_stream(args.tokens)
    plain = [p for p in thinking if p not in ("<", "think", ">", "</")]
    rows = {
        "stop matcher alone (before)": cpu_per_token(thinking, lambda: StopMatcher(stops), args.repeats),
        "splitter, thinking answer": cpu_per_token(
            thinking, lambda: ReasoningOutput(ThinkTags(), stops), args.repeats
        ),
        "splitter, plain answer": cpu_per_token(
            plain, lambda: ReasoningOutput(ThinkTags(), stops), args.repeats
        ),
        "no think config (non-thinking model)": cpu_per_token(
            thinking, lambda: ReasoningOutput(None, stops), args.repeats
        ),
    }
    decode = None if args.decode_tok_s else measured_decode_seconds(args.decode_tokens)
    source = (
        "measured on the 0.5B GGUF" if decode else f"given: {args.decode_tok_s or README_DECODE_TOK_S} tok/s"
    )
    decode = decode or 1.0 / (args.decode_tok_s or README_DECODE_TOK_S)
    print(f"load average {os.getloadavg()[0]:.2f}; {len(thinking)} tokens x {args.repeats} runs")
    print(f"decode time per token: {decode * 1e3:.2f} ms ({source})")
    baseline = rows["stop matcher alone (before)"]
    for name, seconds in rows.items():
        added = max(seconds - baseline, 0.0)
        print(
            f"  {name:40s} {seconds * 1e6:7.2f} µs/token  added {added * 1e6:6.2f} µs = "
            f"{added / decode * 100:.3f}% of decode, total {seconds / decode * 100:.3f}%"
        )
    worst = max(rows.values()) / decode * 100
    print(f"worst total share of decode time: {worst:.3f}% (goal < 2%): {'met' if worst < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
