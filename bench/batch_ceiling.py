"""What limits continuous batching on this CPU: llama.cpp's raw batch API (no server) on the
same weights stored in other formats, and under another OpenMP wait policy, in one run.

engine_scaling.py measures OpenMaaS against the raw batch API and finds them close; this
script asks whether the raw API itself could scale further. The packaged 0.5B is mostly
Q5_0 + Q8_0 (Q4_K_M falls back there because its 896-wide rows do not fit 256-wide K
blocks). For each variant a fresh process (bench/_raw_batch.py) decodes 1, 4 and 8
sequences together and prints aggregate decode tok/s:

* `source`   — the packaged file, the platform's OpenMP setting (what `openmaas serve` runs);
* `q8_0`     — requantized to Q8_0 (no 5-bit unpacking; llamafile's int8 tiles at n >= 2);
* `bf16`     — requantized to BF16 (AVX512-BF16 tiles where the CPU has them: near-linear
               scaling, but every token reads 2.5x the bytes);
* `passive`  — the packaged file under OMP_WAIT_POLICY=PASSIVE (sleeping barriers).

    .venv/bin/python bench/batch_ceiling.py               # ~1 minute; needs ~2 GB in $TMPDIR

The requantized files are written to a temporary directory and deleted afterwards. Goal
context (issue #8): >= 2x one stream's throughput at 4 streams. Two columns answer it: each
variant against its own one stream, and against the `source` one stream (a ratio that rises
only because one stream got slower serves nobody).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _server import DEFAULT_MODEL, loadavg, omp_argument, platform_omp_policy, raw_batch_rates

FTYPES = {"q8_0": 7, "bf16": 32}  # llama_ftype values: LLAMA_FTYPE_MOSTLY_Q8_0, _MOSTLY_BF16


def requantize(source: Path, target: Path, ftype: int) -> None:
    """llama.cpp's quantizer in a child process (the parent never calls into ggml)."""
    code = (
        "import sys; from pathlib import Path; from openmaas.catalog.variants import quantize\n"
        "quantize(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(source), str(target), str(ftype)], check=True, capture_output=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--levels", default="1,4,8")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--omp-wait-policy", type=omp_argument, default=platform_omp_policy())
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    if levels[0] != 1 or 4 not in levels:
        parser.error("--levels must start at 1 and include 4")
    print(f"load average before: {loadavg()}")
    rows: list[tuple[str, float, dict[int, float]]] = []
    with tempfile.TemporaryDirectory(prefix="batch-ceiling-") as tmp:
        variants = [("source", args.model, args.omp_wait_policy)]
        for name, ftype in FTYPES.items():
            target = Path(tmp) / f"{name}.gguf"
            requantize(args.model, target, ftype)
            variants.append((name, target, args.omp_wait_policy))
        variants.append(("passive", args.model, "PASSIVE"))
        for name, path, omp in variants:
            rates = raw_batch_rates(path, levels, args.tokens, omp)
            rows.append((f"{name} ({omp})", path.stat().st_size / 1e6, rates))
    print(f"load average after: {loadavg()}")
    print_table(rows, levels)


def print_table(rows: list[tuple[str, float, dict[int, float]]], levels: list[int]) -> None:
    source_one = rows[0][2][1]
    header = "".join(f"{f'{n} tok/s':>11}" for n in levels)
    print(f"{'variant':<24}{'MB':>7}{header}{'4 vs own 1':>12}{'4 vs source 1':>15}")
    for name, size, rates in rows:
        cells = "".join(f"{rates[n]:>11.1f}" for n in levels)
        print(f"{name:<24}{size:>7.0f}{cells}{rates[4] / rates[1]:>11.2f}x{rates[4] / source_one:>14.2f}x")
    best = max(rows, key=lambda row: row[2][4])
    print(
        f"most at 4 streams: {best[0]}, {best[2][4]:.1f} tok/s = {best[2][4] / source_one:.2f}x "
        f"the packaged file's one stream ({source_one:.1f} tok/s)"
    )


if __name__ == "__main__":
    main()
