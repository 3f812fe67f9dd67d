"""peft adapter → GGUF LoRA adapter, with llama.cpp's own `convert_lora_to_gguf.py`.

The converter ships in the llama-cpp-python sdist (vendor/llama.cpp), not in the wheel;
`scripts/fetch-llama-converter.sh` (run by `make install`) unpacks it into
`settings.finetune.converter_dir`. It runs as a child process of this Python (it needs
torch, transformers and its own vendored gguf-py), reading only the base model's
config.json, never its weights.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from openmaas.finetune.errors import TrainingFailed

CONVERTER = "convert_lora_to_gguf.py"
FETCH_HINT = "run `make install` (scripts/fetch-llama-converter.sh) to fetch llama.cpp's converter"


def converter_script(converter_dir: Path) -> Path:
    script = converter_dir.expanduser() / CONVERTER
    if not script.is_file():
        raise TrainingFailed(f"{script} not found: {FETCH_HINT}")
    return script


def convert_adapter(
    adapter_dir: Path, base_config_dir: Path, out_file: Path, converter_dir: Path, timeout: float = 900.0
) -> Path:
    """Write `out_file` (f16 GGUF LoRA); TrainingFailed with the converter's last words if it fails."""
    command = [
        sys.executable,
        str(converter_script(converter_dir)),
        "--base",
        str(base_config_dir),
        "--outfile",
        str(out_file),
        "--outtype",
        "f16",
        str(adapter_dir),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise TrainingFailed(f"converting the adapter to GGUF took over {timeout:.0f}s") from None
    if done.returncode != 0 or not out_file.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise TrainingFailed("converting the adapter to GGUF failed: " + " | ".join(tail))
    return out_file
