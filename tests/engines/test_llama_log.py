"""llama.cpp's own log lines reach the JSON log as records, not as raw stderr text."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import assembled_default_model

# what `openmaas serve` does, in a fresh process: JSON logging, then the engine's two loads
# (the batch runtime and the vocab-only tokenizer), each of which makes llama.cpp warn
SCRIPT = """
import sys
import llama_cpp
from openmaas.observability.logs import configure_json_logging
from openmaas.engines.llama_runtime import load_runtime
configure_json_logging("info")
load_runtime(sys.argv[1], 512, 2, 2, 512).close()
llama_cpp.Llama(model_path=sys.argv[1], vocab_only=True, verbose=False)
"""


@pytest.mark.slow
def test_llama_cpp_warnings_are_json_records():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(assembled_default_model())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # a raw llama.cpp line would fail here
    from_llama = [r for r in records if r["logger"] == "openmaas.llama"]
    assert {r["level"] for r in from_llama} == {"warning"}
    assert any("n_ctx_train" in r["message"] for r in from_llama)
    assert not any(r["message"].startswith("print_info") for r in records)  # chatter stays DEBUG
