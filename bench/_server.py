"""Shared helpers for the bench scripts: a live `openmaas serve`-equivalent in a subprocess.

`python bench/_server.py --engine fake|llamacpp|upstream ...` migrates a fresh SQLite database in a
temporary data dir, creates one account + API key (written to `--key-file`), and serves
`create_app(settings)` with uvicorn exactly as `openmaas serve` does (uvloop + httptools,
one worker). The parent side is `ServerProcess`: start, wait for /health, stop.

`ServerProcess(..., tree=path)` serves another checkout's code (its `src` and its own
`bench/_server.py`) with this interpreter: `checkout_of(ref)` makes one, a temporary
`git worktree` of a commit, so a bench can measure "before" and "after" in one run
(`gateway_fake.py` / `gateway_litellm.py --compare-ref`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent  # the checkout these benches belong to
DEFAULT_MODEL = Path("~/.openmaas/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf").expanduser()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


class OtherLoad:
    """How much CPU everything *else* on the machine used while a benchmark ran.

    Load averages count this benchmark's own threads; this does not: busy time from
    /proc/stat minus this process's and its (reaped) children's CPU time. Read it after the
    children that did the work have exited (a live child's CPU is not yet counted as mine).
    """

    def __init__(self) -> None:
        self._start = (self._busy(), self._mine(), time.monotonic())

    @staticmethod
    def _busy() -> float:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _mine() -> float:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    def cpus(self) -> float:
        """Average number of CPUs used by other processes since construction."""
        busy, mine, began = self._start
        wall = time.monotonic() - began
        return max(0.0, (self._busy() - busy) - (self._mine() - mine)) / wall if wall > 0 else 0.0

    def verdict(self, threshold: float = 0.15) -> str:
        used = self.cpus()
        state = "quiet" if used <= threshold else "DISTURBED (re-run on a quiet machine)"
        return f"other processes used {used:.2f} of {os.cpu_count()} CPUs: {state}"


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), in seconds."""
    return cpu_seconds_of(Path(f"/proc/{pid}/stat"))


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """utime + stime per thread (tid → seconds); the main (event-loop) thread's tid is pid."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out[int(task.name)] = cpu_seconds_of(task / "stat")
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def cpu_seconds_of(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def platform_omp_policy() -> str:
    """The OpenMP setting `openmaas serve` uses by default, as an OMP label (see omp_label)."""
    from openmaas.config import Settings

    fields = Settings.model_fields
    return omp_label(fields["omp_wait_policy"].default, fields["omp_spin_count"].default)


def omp_label(policy: str, spin_count: int | None) -> str:
    """PASSIVE, ACTIVE, default (libgomp's own 3 ms spin) or spin:N (default, GOMP_SPINCOUNT=N)."""
    return f"spin:{spin_count}" if policy == "default" and spin_count is not None else policy


def omp_settings(label: str) -> tuple[str, int | None]:
    """An OMP label → (Settings.omp_wait_policy, Settings.omp_spin_count)."""
    if label.startswith("spin:"):
        return "default", int(label.removeprefix("spin:"))
    if label not in ("default", "PASSIVE", "ACTIVE"):
        raise ValueError(f"OpenMP setting {label!r}: expected PASSIVE, ACTIVE, default or spin:N")
    return label, None


def omp_argument(label: str) -> str:
    """argparse `type=` for an OMP label."""
    try:
        omp_settings(label)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return label


def with_omp_wait_policy(env, label: str):
    """Puts the OMP label's OMP_WAIT_POLICY / GOMP_SPINCOUNT into `env` (and drops stale ones)."""
    policy, spin_count = omp_settings(label)
    env.pop("OMP_WAIT_POLICY", None)
    env.pop("GOMP_SPINCOUNT", None)
    if policy != "default":
        env["OMP_WAIT_POLICY"] = policy
    if spin_count is not None:
        env["GOMP_SPINCOUNT"] = str(spin_count)
    return env


def raw_batch_rates(model: Path, levels: list[int], tokens: int, omp: str) -> dict[int, float]:
    """Decode-only tok/s of llama.cpp's raw batch API (bench/_raw_batch.py) in a fresh process
    under the OMP label `omp`: {sequences: aggregate tok/s}."""
    env = with_omp_wait_policy(dict(os.environ), omp)
    out = subprocess.run(
        [
            sys.executable,
            str(HERE / "_raw_batch.py"),
            "--model",
            str(model),
            "--levels",
            ",".join(map(str, levels)),
            "--tokens",
            str(tokens),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return {int(k): v for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


@contextlib.contextmanager
def checkout_of(ref: str) -> Iterator[Path]:
    """A temporary, detached `git worktree` of `ref` in this repository; removed afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="openmaas-ref-"))
    tree = parent / "tree"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(tree), ref], check=True
    )
    try:
        yield tree
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
        shutil.rmtree(parent, ignore_errors=True)


def short_commit(ref: str, tree: Path = ROOT) -> str:
    done = subprocess.run(
        ["git", "-C", str(tree), "rev-parse", "--short", ref], capture_output=True, text=True
    )
    return done.stdout.strip() or ref


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 30.0) -> None:
    """Ask a child to stop with `sig`; kill it if it is still running after `grace` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class ServerProcess:
    """`with ServerProcess(...) as server:` → server.base_url, server.api_key, server.pid."""

    def __init__(
        self,
        engine: str,
        *,
        model_path: Path | None = None,
        threads: int = 2,
        n_ctx: int = 4096,
        omp_wait_policy: str | None = None,
        max_output_tokens: int = 4096,
        start_timeout: float = 120.0,
        extra_env: dict[str, str] | None = None,
        parallel: int = 4,
        upstream: str | None = None,
        tree: Path = ROOT,
        model_options: dict | None = None,
    ) -> None:
        self.engine = engine
        self.tree = tree  # the checkout whose code is served (its src/ and bench/_server.py)
        self.upstream = upstream  # engine "upstream": the OpenAI-compatible server's base URL
        self.parallel = parallel
        self.model_options = model_options or {}  # the llamacpp model's `options` (e.g. draft)
        self.model_path = model_path
        self.threads = threads
        self.n_ctx = n_ctx
        self.omp_wait_policy = omp_wait_policy or platform_omp_policy()
        self.max_output_tokens = max_output_tokens
        self.start_timeout = start_timeout
        self.extra_env = extra_env or {}
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.api_key = ""
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._proc: subprocess.Popen | None = None
        self.startup_s = 0.0

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def __enter__(self) -> ServerProcess:
        self._tmp = tempfile.TemporaryDirectory(prefix="openmaas-bench-")
        data = Path(self._tmp.name)
        key_file = data / "api_key"
        cmd = [
            sys.executable,
            str(self.tree / "bench" / "_server.py"),
            "--engine",
            self.engine,
            "--port",
            str(self.port),
            "--data-dir",
            str(data / "data"),
            "--key-file",
            str(key_file),
            "--threads",
            str(self.threads),
            "--n-ctx",
            str(self.n_ctx),
            "--omp-wait-policy",
            self.omp_wait_policy,
            "--max-output-tokens",
            str(self.max_output_tokens),
            "--parallel",
            str(self.parallel),
        ]
        if self.model_path is not None:
            cmd += ["--model-path", str(self.model_path)]
        if self.upstream is not None:
            cmd += ["--upstream", self.upstream]
        if self.model_options:
            cmd += ["--model-options", json.dumps(self.model_options)]
        env = with_omp_wait_policy(dict(os.environ), self.omp_wait_policy) | self.extra_env
        # this tree's code first, whatever the venv has installed (an editable install of another)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.tree / "src"), env.get("PYTHONPATH")]))
        self._log = open(data / "server.log", "wb")  # noqa: SIM115 (closed in __exit__)
        started = time.perf_counter()
        self._proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError("server did not become healthy in time")
            try:
                if key_file.is_file() and httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.startup_s = time.perf_counter() - started
        self.api_key = key_file.read_text().strip()
        return self

    def log_tail(self, n: int = 4000) -> str:
        assert self._tmp is not None
        path = Path(self._tmp.name) / "server.log"
        return path.read_text(errors="replace")[-n:] if path.is_file() else ""

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            stop_process(self._proc, signal.SIGINT)  # uvicorn's graceful shutdown (runs lifespan end)
        self._log.close()
        if self._tmp is not None:
            self._tmp.cleanup()


# --- the child side ---------------------------------------------------------------------------
def _serve(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="bench server (internal)")
    parser.add_argument("--engine", choices=["fake", "llamacpp", "upstream"], required=True)
    parser.add_argument("--upstream", default=None, help="engine upstream: replica base URL")
    parser.add_argument("--model-path", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--key-file", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--omp-wait-policy", type=omp_argument, default=platform_omp_policy())
    parser.add_argument("--max-output-tokens", type=int, default=4096)
    parser.add_argument("--parallel", type=int, default=4, help="engine batch slots")
    parser.add_argument("--model-options", type=json.loads, default={}, help="JSON: more model options")
    args = parser.parse_args(argv)
    with_omp_wait_policy(os.environ, args.omp_wait_policy)  # before anything loads llama.cpp

    import uvicorn

    from openmaas.app import create_app
    from openmaas.auth.accounts import create_account
    from openmaas.auth.keys import issue_key
    from openmaas.config import DEFAULT_CHAT_MODEL, ModelConfig, PriceConfig, Settings, default_prices
    from openmaas.store import migrate

    if args.engine == "fake":
        model = ModelConfig(
            name="fake-chat",
            engine="fake",
            aliases=["glm-4"],
            context_window=args.n_ctx,
            max_output_tokens=args.max_output_tokens,
        )
    elif args.engine == "upstream":
        model = ModelConfig(
            name="upstream-chat",
            engine="upstream",
            aliases=["glm-4"],
            upstreams=[args.upstream],
            upstream_model="stub",
            context_window=args.n_ctx,
            max_output_tokens=args.max_output_tokens,
        )
    else:
        model = ModelConfig(
            name=DEFAULT_CHAT_MODEL,
            path=args.model_path,
            aliases=["glm-4"],
            context_window=args.n_ctx,
            max_output_tokens=args.max_output_tokens,
            options={"parallel": args.parallel} | args.model_options,
        )
    args.data_dir.mkdir(parents=True, exist_ok=True)
    values = {
        "environment": "test",
        "data_dir": args.data_dir,
        "database_url": f"sqlite:///{args.data_dir / 'openmaas.db'}",
        "models": [model],
        "secret_key": "bench-secret",
        "engine_threads": args.threads,
        "omp_wait_policy": omp_settings(args.omp_wait_policy)[0],
        "omp_spin_count": omp_settings(args.omp_wait_policy)[1],
        "run_jobs_in_process": False,
        "bootstrap_account": False,
        "log_level": "warning",
    }
    # Billing stays on (the money path is part of every request) but with funds and limits
    # that never cap a benchmark.
    if "billing" in Settings.model_fields:
        # prices fail closed: the served canonical model needs a price (glm-4 keeps its own)
        values["billing"] = {
            "registration_grant_tokens": 10**12,
            "prices": default_prices() | {model.name: PriceConfig(input_per_1k="0.001")},
        }
    if "limits" in Settings.model_fields:
        values["limits"] = {
            "rpm_per_key": 10**9,
            "tpm_per_key": 10**12,
            "concurrency_by_tier": dict.fromkeys(("V0", "V1", "V2", "V3"), 4096),
        }
    settings = Settings(**values)
    app = create_app(settings)
    services = app.state.services
    migrate.upgrade(services.db.engine)
    with services.db.session() as session:
        account = create_account(session, "bench")
        billing = getattr(services, "billing", None)
        if billing is not None:
            billing.grant_registration(session, account.id)
        key = issue_key(session, services.sealer, account.id, "bench")
    args.key_file.write_text(key.api_key)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    _serve()
