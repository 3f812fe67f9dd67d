"""llama-cpp-python's own OpenAI-compatible server (`python -m llama_cpp.server`) as the peer
for engine_scaling.py --peer: same llama.cpp build, same weights, threads, context window
and OpenMP setting, one process.

The server's extra dependencies are installed once, pinned, into `bench/.peer-packages`
(`pip install --target`, put on PYTHONPATH for the peer process only), so the project's
virtualenv is never changed by a benchmark.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _server import free_port, stop_process, with_omp_wait_policy

HERE = Path(__file__).resolve().parent
PEER_PACKAGES = HERE / ".peer-packages"
# what llama-cpp-python[server] adds to what the project already has (uvicorn, fastapi, ...)
PEER_REQUIREMENTS = ["sse-starlette==3.7.0", "starlette-context==0.5.1", "pydantic-settings==2.16.3"]


def ensure_peer_packages() -> None:
    stamp = PEER_PACKAGES / ".installed"
    if stamp.is_file() and stamp.read_text() == " ".join(PEER_REQUIREMENTS):
        return
    print(f"installing {', '.join(PEER_REQUIREMENTS)} into {PEER_PACKAGES} ...", flush=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            "--upgrade",
            "--target",
            str(PEER_PACKAGES),
            *PEER_REQUIREMENTS,
        ],
        check=True,
    )
    stamp.write_text(" ".join(PEER_REQUIREMENTS))


class LlamaCppServerPeer:
    """`with LlamaCppServerPeer(...) as peer:` → peer.base_url (OpenAI surface under /v1)."""

    def __init__(
        self, model: Path, *, threads: int, n_ctx: int, omp_wait_policy: str, start_timeout: float = 300.0
    ) -> None:
        self.model, self.threads, self.n_ctx = model, threads, n_ctx
        self.omp_wait_policy, self.start_timeout = omp_wait_policy, start_timeout
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in __exit__)

    def __enter__(self) -> LlamaCppServerPeer:
        ensure_peer_packages()
        env = with_omp_wait_policy(dict(os.environ), self.omp_wait_policy)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PEER_PACKAGES), env.get("PYTHONPATH")]))
        # flash attention on, as the OpenMaaS engine's context has it ("auto" = on for CPU);
        # interrupt_requests off: by default a new request cuts the running stream short
        cmd = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.threads),
            "--n_threads_batch",
            str(self.threads),
            "--n_batch",
            "512",
            "--flash_attn",
            "true",
            "--interrupt_requests",
            "false",
            "--verbose",
            "false",
        ]
        self._proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + self.start_timeout
        while not self._ready():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"llama_cpp.server did not start:\n{self._tail()}")
            time.sleep(0.1)
        return self

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/v1/models", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def _tail(self, n: int = 3000) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-n:]

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            stop_process(self._proc)
        self._log.close()
