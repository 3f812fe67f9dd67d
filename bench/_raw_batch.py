"""The ceiling for engine_scaling.py: llama.cpp's raw multi-sequence batch API, no server.

Run as a child process (llama.cpp must be loaded fresh, with the same OpenMP wait policy):
it creates a context exactly like the engine's (`load_runtime`: same threads, batch size,
per-sequence KV cache, slots), prefills N prompts of `--prompt-tokens` tokens together,
then decodes one token per sequence per step for `--tokens` steps with logits for every
sequence (what sampling needs), and prints JSON {streams: aggregate decode tok/s}. Token
identities do not change the compute, so fixed token ids stand in for real text.
"""

from __future__ import annotations

import argparse
import json
import time

import llama_cpp as C

from openmaas.engines.llama_runtime import Batch, Runtime, load_runtime


def decode_rate(runtime: Runtime, batch: Batch, streams: int, prompt_tokens: int, steps: int) -> float:
    C.llama_memory_clear(runtime.memory, True)
    batch.clear()
    for seq in range(streams):
        for i in range(prompt_tokens):
            batch.add(1000 + 7 * seq + i, i, seq, i == prompt_tokens - 1)
    batch.decode(runtime)
    began = time.perf_counter()
    for step in range(steps):
        batch.clear()
        for seq in range(streams):
            batch.add(2000 + step, prompt_tokens + step, seq, True)
        if batch.decode(runtime) != 0:
            raise RuntimeError("llama_decode failed")
    return streams * steps / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--levels", default="1,2,4,8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-ctx", type=int, default=1024)
    parser.add_argument("--prompt-tokens", type=int, default=40)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    runtime = load_runtime(args.model, args.n_ctx, max(levels), args.threads, 512)
    batch = Batch(512)
    decode_rate(runtime, batch, 1, args.prompt_tokens, 8)  # warm-up
    rates = {n: decode_rate(runtime, batch, n, args.prompt_tokens, args.tokens) for n in levels}
    print(json.dumps(rates))


if __name__ == "__main__":
    main()
