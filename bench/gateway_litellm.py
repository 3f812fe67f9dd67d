"""Gateway overhead: OpenMaaS vs the LiteLLM proxy in front of the same stub upstream.

Four kinds of process on loopback, all on this machine:

* a stub OpenAI-compatible upstream (raw asyncio HTTP/1.1 on uvloop; `POST /v1/chat/completions`
  answers a fixed small completion with `usage`, as JSON or, with `"stream": true`, as SSE
  ending in a usage chunk and `[DONE]`; `GET /health`);
* the LiteLLM proxy (`litellm[proxy]==1.108.7`, installed by this script into its own
  virtualenv `bench/.venv-litellm`, never the project's), one process, one worker, a model
  `glm-4` → `openai/stub` at the stub, a master key, no database,
  `LITELLM_LOCAL_MODEL_COST_MAP=True` (offline), telemetry off;
* OpenMaaS (`_server.ServerProcess("upstream")`: `openmaas serve`-equivalent, one process,
  billing + limits ON; `glm-4` is a priced alias of an upstream model pointing at the stub,
  the account is funded), on its OpenAI surface `/v1/chat/completions`;
* the load generator, a separate process per cell (raw asyncio HTTP/1.1 client on uvloop,
  one keep-alive connection per client, opened before the cell starts).

For 1, 16 and 64 concurrent clients it measures requests/s and p50/p99 latency direct to the
stub, via LiteLLM and via OpenMaaS (cells interleaved, `--rounds` times, latencies pooled),
and prints the added latency (via − direct) and the RPS ratio OpenMaaS/LiteLLM against the
goals (≥ 5× LiteLLM's RPS; added p50 ≤ 1.5 ms and p99 ≤ 3 ms at one client). The direct
cells show what the client and the stub cost: the client must not be the bottleneck.

    .venv/bin/python bench/gateway_litellm.py                       # 1,16,64 clients, non-stream
    .venv/bin/python bench/gateway_litellm.py --stream              # + streaming cells
    .venv/bin/python bench/gateway_litellm.py --levels 1,16 --duration 5 --rounds 1
    .venv/bin/python bench/gateway_litellm.py --compare-ref 99cbb66 --stream --rounds 6
    .venv/bin/python bench/gateway_litellm.py --compare-ref 73fbcfb^1 --new-ref 73fbcfb   # one merge only
    .venv/bin/python bench/gateway_litellm.py --smoke --compare-ref HEAD     # seconds: the wiring

`--compare-ref REF` replaces LiteLLM by OpenMaaS at commit REF (a temporary `git worktree`
of it, served with this interpreter and venv: no LiteLLM needed): the same stub, the same
load, rounds alternating their order, and the ratio this / REF of req/s, p50 and p99 (the
meter's goal, issue 16: req/s within 5%, the same p99). `--smoke` runs seconds-long cells.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
LITELLM_VENV = HERE / ".venv-litellm"
LITELLM_VERSION = "1.108.7"
MASTER_KEY = "sk-bench-master"
MODEL = "glm-4"
CHAT = "/v1/chat/completions"
PROMPT = (
    "the quick brown fox jumps over the lazy dog while seven sleepy cats watch from a sunny "
    "window and count the passing clouds one by one"
)


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"load average: {loadavg()}"


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def install_uvloop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass


# --- the stub upstream --------------------------------------------------------------------
STUB_TEXT = "Hello from the stub upstream."
STUB_USAGE = {"prompt_tokens": 40, "completion_tokens": 7, "total_tokens": 47}


def _stub_bodies() -> tuple[bytes, bytes]:
    created = 1700000000
    completion = {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": created,
        "model": "stub",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": STUB_TEXT}, "finish_reason": "stop"}
        ],
        "usage": STUB_USAGE,
    }
    base = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": created, "model": "stub"}
    chunks = [
        {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        }
    ]
    for word in ("Hello", " from the", " stub", " upstream."):
        chunks.append({**base, "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]})
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    chunks.append({**base, "choices": [], "usage": STUB_USAGE})
    sse = "".join(f"data: {json.dumps(c, separators=(',', ':'))}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return json.dumps(completion, separators=(",", ":")).encode(), sse.encode()


def _http_response(body: bytes, content_type: str, status: str = "200 OK") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
        "connection: keep-alive\r\n\r\n"
    ).encode() + body


class StubProtocol(asyncio.Protocol):
    """Minimal HTTP/1.1 keep-alive server: Content-Length or chunked request bodies."""

    JSON_RESPONSE: bytes = b""
    SSE_RESPONSE: bytes = b""
    HEALTH = _http_response(b'{"status":"ok"}', "application/json")
    NOT_FOUND = _http_response(b'{"error":"not found"}', "application/json", "404 Not Found")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].split(b"\r\n")
            method, path = head[0].split(b" ", 2)[:2]
            length, chunked = 0, False
            for line in head[1:]:
                key, _, value = line.partition(b":")
                key = key.strip().lower()
                if key == b"content-length":
                    length = int(value)
                elif key == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
            start = end + 4
            if chunked:
                body, consumed = _dechunk(self.buf, start)
                if body is None:
                    return
                rest = self.buf[consumed:]
            else:
                if len(self.buf) < start + length:
                    return
                body, rest = self.buf[start : start + length], self.buf[start + length :]
            self.buf = rest
            self.transport.write(self.answer(method, path, body))

    def answer(self, method: bytes, path: bytes, body: bytes) -> bytes:
        if method == b"GET" and path.startswith(b"/health"):
            return self.HEALTH
        if method == b"POST" and path.rstrip(b"/").endswith(b"/chat/completions"):
            try:
                stream = bool(json.loads(body).get("stream"))
            except ValueError:
                stream = False
            return self.SSE_RESPONSE if stream else self.JSON_RESPONSE
        return self.NOT_FOUND


def _dechunk(buf: bytes, pos: int) -> tuple[bytes | None, int]:
    out = b""
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None, 0
        size = int(buf[pos:eol].split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            trailer = buf.find(b"\r\n", pos)  # no trailers expected: just the final CRLF
            return (out, trailer + 2) if trailer >= 0 else (None, 0)
        if len(buf) < pos + size + 2:
            return None, 0
        out += buf[pos : pos + size]
        pos += size + 2


def run_stub(port: int) -> None:
    install_uvloop()
    json_body, sse_body = _stub_bodies()
    StubProtocol.JSON_RESPONSE = _http_response(json_body, "application/json")
    StubProtocol.SSE_RESPONSE = _http_response(sse_body, "text/event-stream")

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(StubProtocol, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


# --- the load generator -------------------------------------------------------------------
class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, raw: bytes) -> tuple[int, bytes, float]:
        """Send one request; (status, body, seconds to the first body byte from now)."""
        began = time.perf_counter()
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked = None, False
        for line in lines[1:]:
            key, _, value = line.partition(b":")
            key = key.strip().lower()
            if key == b"content-length":
                length = int(value)
            elif key == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        first = 0.0
        if length is not None:
            body = await self.reader.readexactly(length)
            first = time.perf_counter() - began
        elif chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if not first:
                    first = time.perf_counter() - began
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size + 2))
            body = b"".join(p[:-2] for p in parts)
        else:
            raise RuntimeError("response without length (connection close?)")
        return status, body, first


def build_request(port: int, path: str, key: str, payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {key}\r\naccept: */*\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def request_payload(stream: bool, max_tokens: int) -> dict:
    payload = {
        "model": MODEL,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": max_tokens,
        "temperature": 0,
    }
    if stream:
        payload["stream"] = True
    return payload


def valid(status: int, body: bytes, stream: bool) -> bool:
    if status != 200:
        return False
    if stream:
        return b"[DONE]" in body and b"upstream" in body
    return b'"content"' in body and b"stub upstream" in body


async def load_cell(
    port: int,
    path: str,
    key: str,
    stream: bool,
    clients: int,
    requests: int,
    duration: float,
    max_tokens: int,
    pids: list[int],
) -> dict:
    raw = build_request(port, path, key, request_payload(stream, max_tokens))
    conns = []
    for _ in range(clients):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        conns.append(Conn(reader, writer))
    # one untimed request per connection: connection set-up and any lazy per-connection state
    first = await asyncio.gather(*(c.request(raw) for c in conns))
    bad = [f[0] for f in first if not valid(f[0], f[1], stream)]
    if bad:
        return {"error": f"warm-up answers not valid: status {bad[:3]}: {first[0][1][:300]!r}"}
    latencies: list[float] = []
    ttfb: list[float] = []
    errors = 0
    issued = 0

    async def worker(conn: Conn, deadline: float) -> None:
        nonlocal issued, errors
        while issued < requests and time.perf_counter() < deadline:
            issued += 1
            began = time.perf_counter()
            try:
                status, body, first_byte = await conn.request(raw)
            except (OSError, asyncio.IncompleteReadError, RuntimeError, ValueError):
                errors += 1
                return
            if valid(status, body, stream):
                latencies.append(time.perf_counter() - began)
                ttfb.append(first_byte)
            else:
                errors += 1

    cpu0 = [proc_cpu(p) for p in pids]
    self0 = _self_cpu()
    began = time.perf_counter()
    await asyncio.gather(*(worker(c, began + duration) for c in conns))
    elapsed = time.perf_counter() - began
    cpu = [proc_cpu(p) - c for p, c in zip(pids, cpu0, strict=True)]
    client_cpu = _self_cpu() - self0
    for conn in conns:
        conn.writer.close()
    return {
        "latencies": latencies,
        "ttfb": ttfb,
        "errors": errors,
        "elapsed": elapsed,
        "cpu": cpu,
        "client_cpu": client_cpu,
    }


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_load(args: argparse.Namespace) -> None:
    install_uvloop()
    pids = [int(p) for p in args.pids.split(",") if p]
    result = asyncio.run(
        load_cell(
            args.port,
            args.path,
            args.key,
            args.stream_cell,
            args.clients,
            args.requests,
            args.duration,
            args.max_tokens,
            pids,
        )
    )
    Path(args.out).write_text(json.dumps(result))  # a file: stdout may be non-blocking under uvloop


# --- LiteLLM ------------------------------------------------------------------------------
def litellm_python() -> Path:
    return LITELLM_VENV / "bin" / "python"


def litellm_installed_version() -> str | None:
    if not litellm_python().is_file():
        return None
    probe = subprocess.run(
        [str(litellm_python()), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
    )
    return probe.stdout.strip() or None if probe.returncode == 0 else None


def ensure_litellm(version: str) -> str:
    """litellm[proxy] in bench/.venv-litellm (its own virtualenv: its pins would break ours)."""
    have = litellm_installed_version()
    if have == version:
        return have
    if not litellm_python().is_file():
        print(f"creating {LITELLM_VENV} ...", flush=True)
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(LITELLM_VENV)], check=True)
    pip = [str(litellm_python()), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    print(f"installing litellm[proxy]=={version} into {LITELLM_VENV} ...", flush=True)
    if subprocess.run([*pip, f"litellm[proxy]=={version}"]).returncode != 0:
        major_minor = ".".join(version.split(".")[:2])
        print(f"litellm {version} not installable; trying the closest {major_minor}.x", flush=True)
        subprocess.run([*pip, f"litellm[proxy]~={major_minor}.0"], check=True)
    have = litellm_installed_version()
    if have is None:
        raise SystemExit("litellm did not install")
    return have


class LiteLLMProcess:
    def __init__(self, stub_url: str, start_timeout: float = 180.0) -> None:
        self.stub_url = stub_url
        self.port = free_port()
        self.start_timeout = start_timeout
        self.startup_s = 0.0

    def __enter__(self) -> LiteLLMProcess:
        self._tmp = tempfile.TemporaryDirectory(prefix="litellm-bench-")
        tmp = Path(self._tmp.name)
        config = tmp / "config.yaml"
        config.write_text(
            "model_list:\n"
            f"  - model_name: {MODEL}\n"
            "    litellm_params:\n"
            "      model: openai/stub\n"
            f"      api_base: {self.stub_url}/v1\n"
            "      api_key: sk-stub\n"
            "litellm_settings:\n"
            "  telemetry: false\n"
            "  set_verbose: false\n"
            "  json_logs: false\n"
            "general_settings:\n"
            f"  master_key: {MASTER_KEY}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
        env |= {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_TELEMETRY": "False",
            "LITELLM_LOG": "ERROR",
            "DISABLE_SCHEMA_UPDATE": "True",
            "NO_DOCS": "True",
            "PATH": f"{LITELLM_VENV / 'bin'}:{env.get('PATH', '')}",
        }
        env.pop("DATABASE_URL", None)
        cmd = [
            str(LITELLM_VENV / "bin" / "litellm"),
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--num_workers",
            "1",
        ]
        self._log = open(tmp / "litellm.log", "wb")  # noqa: SIM115 (closed in __exit__)
        began = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=tmp)
        deadline = time.monotonic() + self.start_timeout
        while not _healthy(self.port, "/health/liveliness"):
            if self.proc.poll() is not None:
                raise RuntimeError(f"litellm exited early:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"litellm did not become healthy in time:\n{self.log_tail()}")
            time.sleep(0.2)
        self.startup_s = time.perf_counter() - began
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, n: int = 3000) -> str:
        path = Path(self._tmp.name) / "litellm.log"
        return path.read_text(errors="replace")[-n:] if path.is_file() else ""

    def __exit__(self, *exc: object) -> None:
        from _server import stop_process  # not at the top: the stub and load roles stay lean

        stop_process(self.proc, signal.SIGINT, 20)
        self._log.close()
        self._tmp.cleanup()


def _healthy(port: int, path: str) -> bool:
    import http.client

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", path)
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


# --- the orchestrator ---------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Cell:
    def __init__(self, target: str, mode: str, clients: int) -> None:
        self.target, self.mode, self.clients = target, mode, clients
        self.latencies: list[float] = []
        self.ttfb: list[float] = []
        self.errors = 0
        self.elapsed = 0.0
        self.gw_cpu = 0.0
        self.stub_cpu = 0.0
        self.client_cpu = 0.0

    def add(self, result: dict) -> None:
        self.latencies += result["latencies"]
        self.ttfb += result["ttfb"]
        self.errors += result["errors"]
        self.elapsed += result["elapsed"]
        self.stub_cpu += result["cpu"][0]
        self.gw_cpu += result["cpu"][1] if len(result["cpu"]) > 1 else 0.0
        self.client_cpu += result["client_cpu"]

    @property
    def done(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.done / self.elapsed if self.elapsed else float("nan")

    def per_req_ms(self, seconds: float) -> float:
        return 1000 * seconds / max(self.done, 1)


def load(
    port: int,
    path: str,
    key: str,
    stream: bool,
    clients: int,
    requests: int,
    duration: float,
    max_tokens: int,
    pids: list[int],
) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--role",
        "load",
        "--port",
        str(port),
        "--path",
        path,
        "--key",
        key,
        "--clients",
        str(clients),
        "--requests",
        str(requests),
        "--duration",
        str(duration),
        "--max-tokens",
        str(max_tokens),
        "--pids",
        ",".join(str(p) for p in pids),
    ]
    if stream:
        cmd.append("--stream-cell")
    with tempfile.TemporaryDirectory(prefix="gateway-load-") as tmp:
        out = Path(tmp) / "result.json"
        done = subprocess.run(
            [*cmd, "--out", str(out)], capture_output=True, text=True, timeout=duration + 120
        )
        if done.returncode != 0:
            raise RuntimeError(f"load generator failed:\n{done.stderr[-3000:]}")
        result = json.loads(out.read_text())
    if "error" in result:
        raise RuntimeError(f"{path} on :{port}: {result['error']}")
    return result


@contextlib.contextmanager
def gateways(args: argparse.Namespace, stub_url: str) -> Iterator[dict]:
    """{name: (process, port, key)}: LiteLLM and OpenMaaS, or with --compare-ref OpenMaaS at
    REF and OpenMaaS here."""
    from _server import ROOT, ServerProcess, checkout_of

    with contextlib.ExitStack() as stack:
        out = {}
        if args.compare_ref:
            tree = stack.enter_context(checkout_of(args.compare_ref))
            old = stack.enter_context(
                ServerProcess("upstream", upstream=stub_url, n_ctx=8192, max_output_tokens=1024, tree=tree)
            )
            out[args.compare_ref] = (old, old.port, old.api_key)
        else:
            litellm = stack.enter_context(LiteLLMProcess(stub_url))
            out["litellm"] = (litellm, litellm.port, MASTER_KEY)
        mine = stack.enter_context(checkout_of(args.new_ref)) if args.compare_ref and args.new_ref else ROOT
        openmaas = stack.enter_context(
            ServerProcess("upstream", upstream=stub_url, n_ctx=8192, max_output_tokens=1024, tree=mine)
        )
        out["openmaas"] = (openmaas, openmaas.port, openmaas.api_key)
        yield out


def orchestrate(args: argparse.Namespace) -> int:
    from _server import stop_process

    began = time.perf_counter()
    version = "" if args.compare_ref else ensure_litellm(args.litellm_version)
    levels = [int(x) for x in args.levels.split(",")]
    modes = ["non-stream"] + (["stream"] if args.stream else [])
    against = f"compare-ref {args.compare_ref}" if args.compare_ref else f"litellm {version}"
    print(
        f"gateway_litellm: levels={args.levels} rounds={args.rounds} requests<={args.requests}/cell "
        f"duration<={args.duration}s/cell modes={','.join(modes)} {against}",
        flush=True,
    )
    print(f"uptime before: {uptime()}", flush=True)
    stub_port = free_port()
    stub = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--role", "stub", "--port", str(stub_port)]
    )
    try:
        deadline = time.monotonic() + 30
        while not _healthy(stub_port, "/health"):
            if stub.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("stub upstream did not start")
            time.sleep(0.05)
        stub_url = f"http://127.0.0.1:{stub_port}"
        with gateways(args, stub_url) as running:
            print(
                f"stub :{stub_port} (pid {stub.pid}); "
                + "; ".join(
                    f"{name} :{port} (pid {proc.pid}, up in {proc.startup_s:.1f} s)"
                    for name, (proc, port, _) in running.items()
                ),
                flush=True,
            )
            targets = {"direct": (stub_port, CHAT, "sk-stub", [stub.pid])}
            for name, (proc, port, key) in running.items():
                targets[name] = (port, CHAT, key, [stub.pid, proc.pid])
            for port, path, key, pids in targets.values():  # warm-up, not reported
                for mode in modes:
                    load(port, path, key, mode == "stream", 16, args.warmup, 30, args.max_tokens, pids)
            print(f"warmed up; uptime: {uptime()}", flush=True)
            cells: dict[tuple[str, str, int], Cell] = {}
            for mode in modes:
                for level in levels:
                    for rnd in range(args.rounds):
                        order = list(targets) if rnd % 2 == 0 else list(reversed(targets))
                        for name in order:
                            port, path, key, pids = targets[name]
                            cell = cells.setdefault((name, mode, level), Cell(name, mode, level))
                            cell.add(
                                load(
                                    port,
                                    path,
                                    key,
                                    mode == "stream",
                                    level,
                                    args.requests,
                                    args.duration,
                                    args.max_tokens,
                                    pids,
                                )
                            )
                    for name in targets:
                        c = cells[name, mode, level]
                        print(
                            f"  {mode:10s} c={level:<3d} {name:8s} {c.done:6d} ok {c.errors:3d} err "
                            f"{c.rps:8.1f} req/s  p50 {pct(c.latencies, 0.5):7.2f} ms  "
                            f"p99 {pct(c.latencies, 0.99):7.2f} ms  load {loadavg()}",
                            flush=True,
                        )
    finally:
        stop_process(stub, signal.SIGINT, 20)
    if args.compare_ref:
        report_compare(cells, levels, modes, args.compare_ref, time.perf_counter() - began)
    else:
        report(cells, levels, modes, time.perf_counter() - began)
    return 0


def report(cells: dict, levels: list[int], modes: list[str], wall: float) -> None:
    print()
    print(f"uptime after: {uptime()}")
    print(
        f"{'mode':10s} {'clients':>7s} {'target':8s} {'ok':>6s} {'err':>4s} {'req/s':>8s} {'p50 ms':>7s} "
        f"{'p99 ms':>7s} {'+p50 ms':>7s} {'+p99 ms':>7s} {'gw CPU':>7s} {'stub CPU':>8s} {'clnt CPU':>8s}"
        "  (CPU: ms per request)"
    )
    for mode in modes:
        for level in levels:
            direct = cells["direct", mode, level]
            for name in ("direct", "litellm", "openmaas"):
                c = cells[name, mode, level]
                added = (
                    ("", "")
                    if name == "direct"
                    else (
                        f"{pct(c.latencies, 0.5) - pct(direct.latencies, 0.5):7.2f}",
                        f"{pct(c.latencies, 0.99) - pct(direct.latencies, 0.99):7.2f}",
                    )
                )
                gw = f"{c.per_req_ms(c.gw_cpu):7.2f}" if name != "direct" else f"{'-':>7s}"
                print(
                    f"{mode:10s} {level:7d} {name:8s} {c.done:6d} {c.errors:4d} {c.rps:8.1f} "
                    f"{pct(c.latencies, 0.5):7.2f} {pct(c.latencies, 0.99):7.2f} "
                    f"{added[0]:>7s} {added[1]:>7s} "
                    f"{gw} {c.per_req_ms(c.stub_cpu):8.2f} {c.per_req_ms(c.client_cpu):8.2f}"
                )
    print()
    summary = {}
    for mode in modes:
        ratios = []
        for level in levels:
            om, ll = cells["openmaas", mode, level], cells["litellm", mode, level]
            ratios.append(f"c={level}: {om.rps / ll.rps:.2f}x")
            summary[f"{mode}@{level}"] = {
                n: {
                    "rps": round(cells[n, mode, level].rps, 1),
                    "p50_ms": round(pct(cells[n, mode, level].latencies, 0.5), 3),
                    "p99_ms": round(pct(cells[n, mode, level].latencies, 0.99), 3),
                }
                for n in ("direct", "litellm", "openmaas")
            }
        print(f"{mode}: RPS OpenMaaS/LiteLLM  {'  '.join(ratios)}")
    mode, one = "non-stream", min(levels)
    direct, om, ll = (cells[n, mode, one] for n in ("direct", "openmaas", "litellm"))
    best_ll = max(cells["litellm", mode, lv].rps for lv in levels)
    best_om = max(cells["openmaas", mode, lv].rps for lv in levels)
    add50 = pct(om.latencies, 0.5) - pct(direct.latencies, 0.5)
    add99 = pct(om.latencies, 0.99) - pct(direct.latencies, 0.99)
    ll50 = pct(ll.latencies, 0.5) - pct(direct.latencies, 0.5)
    goals = [
        (
            f"RPS ≥ 5× LiteLLM (best level: OpenMaaS {best_om:.0f} vs LiteLLM {best_ll:.0f} req/s "
            f"= {best_om / best_ll:.2f}x)",
            best_om >= 5 * best_ll,
        ),
        (f"added p50 at c={one} ≤ 1.5 ms (OpenMaaS {add50:.2f} ms; LiteLLM {ll50:.2f} ms)", add50 <= 1.5),
        (f"added p99 at c={one} ≤ 3 ms (OpenMaaS {add99:.2f} ms)", add99 <= 3.0),
    ]
    for text, ok in goals:
        print(f"GOAL {'MET   ' if ok else 'MISSED'} {text}")
    errors = sum(c.errors for c in cells.values())
    print(f"SUMMARY errors {errors}; load now {loadavg()}; wall {wall:.0f} s")
    print(json.dumps(summary))


def report_compare(cells: dict, levels: list[int], modes: list[str], ref: str, wall: float) -> None:
    """OpenMaaS here against OpenMaaS at `ref`: req/s, p50 and p99 of each and their ratio."""
    print()
    print(f"uptime after: {uptime()}")
    summary: dict = {"ref": ref}
    for mode in modes:
        for level in levels:
            old, new, direct = (cells[n, mode, level] for n in (ref, "openmaas", "direct"))
            rps = new.rps / old.rps
            p50 = pct(new.latencies, 0.5) / pct(old.latencies, 0.5)
            p99 = pct(new.latencies, 0.99) / pct(old.latencies, 0.99)
            within = abs(rps - 1) <= 0.05
            verdict = "within 5%" if within else "OUTSIDE 5%"
            print(
                f"COMPARE {mode:10s} c={level:<3d} req/s {old.rps:8.1f} ({ref}) -> {new.rps:8.1f} (this) "
                f"= {rps:.3f}x [{verdict}]  "
                f"p50 {pct(old.latencies, 0.5):.2f} -> {pct(new.latencies, 0.5):.2f} ms ({p50:.3f}x)  "
                f"p99 {pct(old.latencies, 0.99):.2f} -> {pct(new.latencies, 0.99):.2f} ms ({p99:.3f}x)  "
                f"gateway CPU {old.per_req_ms(old.gw_cpu):.2f} -> {new.per_req_ms(new.gw_cpu):.2f} ms/req  "
                f"direct {direct.rps:.0f} req/s, p99 {pct(direct.latencies, 0.99):.2f} ms"
            )
            summary[f"{mode}@{level}"] = {
                "rps": [round(old.rps, 1), round(new.rps, 1)],
                "rps_ratio": round(rps, 4),
                "p50_ms": [round(pct(old.latencies, 0.5), 3), round(pct(new.latencies, 0.5), 3)],
                "p99_ms": [round(pct(old.latencies, 0.99), 3), round(pct(new.latencies, 0.99), 3)],
                "p50_ratio": round(p50, 4),
                "p99_ratio": round(p99, 4),
                "rps_within_5pct": within,
                "gateway_cpu_ms_per_req": [
                    round(old.per_req_ms(old.gw_cpu), 3),
                    round(new.per_req_ms(new.gw_cpu), 3),
                ],
                "errors": old.errors + new.errors + direct.errors,
            }
    errors = sum(c.errors for c in cells.values())
    print(f"SUMMARY errors {errors}; load now {loadavg()}; wall {wall:.0f} s")
    print(json.dumps(summary))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,16,64", help="comma-separated client counts")
    parser.add_argument("--requests", type=int, default=4000, help="max requests per cell and round")
    parser.add_argument("--duration", type=float, default=6.0, help="max seconds per cell and round")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds per cell (pooled)")
    parser.add_argument("--warmup", type=int, default=300, help="warm-up requests per target and mode")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--stream", action="store_true", help="also measure streaming requests")
    parser.add_argument("--litellm-version", default=LITELLM_VERSION)
    parser.add_argument(
        "--compare-ref",
        default=None,
        metavar="REF",
        help="OpenMaaS at commit REF (temporary git worktree) in LiteLLM's place",
    )
    parser.add_argument(
        "--new-ref",
        default=None,
        metavar="REF",
        help="with --compare-ref: OpenMaaS at commit REF instead of this working tree",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="seconds: c=1,4, two short rounds (tests run it)"
    )
    # internal: the child roles
    parser.add_argument("--role", choices=["main", "stub", "load"], default="main", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--path", default=CHAT, help=argparse.SUPPRESS)
    parser.add_argument("--key", default="", help=argparse.SUPPRESS)
    parser.add_argument("--clients", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--pids", default="", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="", help=argparse.SUPPRESS)
    parser.add_argument("--stream-cell", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "stub":
        run_stub(args.port)
        return 0
    if args.role == "load":
        run_load(args)
        return 0
    if args.smoke:
        args.levels, args.requests, args.duration, args.rounds, args.warmup = "1,4", 50, 1.0, 2, 20
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
