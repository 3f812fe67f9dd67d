"""A well-behaved tenant beside a hostile one: does the hostile one hurt it?

The server (a subprocess: `create_app` under uvicorn, the fake engine, the in-process job
worker on) has two accounts. The good tenant streams chat from a few clients, one request
after another, and we record its time to first token (TTFT) and its errors. The hostile
tenant meanwhile floods with the attacks chosen (`--attacks`):

- `schema`: chat with tools whose schemas are huge (thousands of properties), deep (nesting
  past any sane depth) or odd (`pattern`, `format`, `anyOf`, enormous `maxItems`);
- `refs`: tool schemas whose `$ref`/`$dynamicRef` point at a port that accepts and never
  answers (finding 1; a fix belongs to the schema work, off by default);
- `bodies`: near-limit JSON bodies of 100 000 tiny messages, and bodies over the limit;
- `jobs`: async chat submissions and batch submissions, as fast as they are accepted;
- `logins`: login attempts (argon2) with wrong passwords;
- `exports`: usage exports (the hostile account has 20 000 usage rows) read by sockets
  that stop reading.

Each run is done twice on a fresh server: quiet (the good tenant alone) and hostile, and
the good tenant's TTFT p50/p99 and errors are compared; `/health` is probed throughout
(the server must stay alive). The goal: p99 within 2x of the quiet run, 0 errors.

The attackers run in a process of their own (their event loop busy serialising megabyte
bodies would otherwise delay the good tenant's client, and count as the server's fault).
The server reports its event loop's lag and, for each stall over 20 ms, the code that held
the loop (bench/_loop_watch.py): `loop` in the results.

    .venv/bin/python bench/hostile_tenant.py                       # SQLite, 20 s per phase
    .venv/bin/python bench/hostile_tenant.py --db postgres          # PostgreSQL + Redis
    .venv/bin/python bench/hostile_tenant.py --attacks jobs,exports --duration 30
    .venv/bin/python bench/hostile_tenant.py --smoke                # a few seconds (tests run it)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _server import free_port, stop_process  # noqa: E402

ATTACKS = ("schema", "refs", "bodies", "jobs", "logins", "exports")
DEFAULT_ATTACKS = ("schema", "bodies", "jobs", "logins", "exports")
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
GOOD_EMAIL = "good@example.com"
ZHIPU = "/api/paas/v4"


# --- the server (child process) ---------------------------------------------------------
def serve(args: argparse.Namespace) -> None:
    import sqlalchemy as sa
    import uvicorn

    from openmaas.app import create_app
    from openmaas.auth.accounts import create_account
    from openmaas.auth.keys import issue_key
    from openmaas.config import ModelConfig, Settings
    from openmaas.store import migrate
    from openmaas.store.tables import UsageRecord, utcnow

    model = ModelConfig(
        name="fake-chat",
        engine="fake",
        aliases=["glm-4"],
        context_window=4096,
        max_output_tokens=256,
        options={"token_delay": args.token_delay},
    )
    values = {
        "environment": "test",
        "data_dir": args.data_dir,
        "database_url": args.database_url,
        "models": [model],
        "secret_key": "bench-secret",
        "run_jobs_in_process": True,
        "bootstrap_account": False,
        "log_level": "warning",
        "redis_url": args.redis_url,
        # prices fail closed (start-up refuses an unpriced model): the good tenant pays
        "billing": {
            "registration_grant_tokens": 10**12,
            "prices": {"fake-chat": {"input_per_1k": "0.001", "output_per_1k": "0.001"}},
        },
        # RPM/TPM out of the way of the measurement; per-tier concurrency as shipped
        "limits": {"rpm_per_key": 10**9, "tpm_per_key": 10**12},
    }
    app = create_app(Settings(**values))
    services = app.state.services
    migrate.upgrade(services.db.engine)
    keys = {}
    with services.db.session() as session:
        for name, email in (("good", GOOD_EMAIL), ("hostile", "hostile@example.com")):
            account = create_account(session, name, email=email)
            services.billing.grant_registration(session, account.id)
            keys[name] = {
                "account_id": account.id,
                "key": issue_key(session, services.sealer, account.id, name).api_key,
            }
    now = utcnow()
    with services.db.session() as session:  # something big to export
        session.execute(
            sa.insert(UsageRecord),
            [
                {
                    "account_id": keys["hostile"]["account_id"],
                    "request_id": f"seed-{i}",
                    "endpoint": "chat",
                    "model": "glm-4",
                    "status": "success",
                    "created_at": now,
                }
                for i in range(args.usage_rows)
            ],
        )
    args.keys_file.write_text(json.dumps(keys))
    from _loop_watch import LoopWatch

    uvicorn.run(LoopWatch(app, args.lag_file), host="127.0.0.1", port=args.port, log_level="warning")


class Server:
    """A fresh server (and, for PostgreSQL, a fresh database) per phase."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.keys: dict = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="openmaas-hostile-")
        self._pg_name: str | None = None

    def __enter__(self) -> Server:
        data = Path(self._tmp.name)
        url = f"sqlite:///{data / 'openmaas.db'}"
        if self.args.db == "postgres":
            self._pg_name = f"hostile_{uuid.uuid4().hex[:10]}"
            _pg_admin(f'CREATE DATABASE "{self._pg_name}"')
            url = f"postgresql://postgres@127.0.0.1:5432/{self._pg_name}"
        keys_file = data / "keys.json"
        self.lag_file = data / "loop.json"
        cmd = [
            sys.executable,
            __file__,
            "--serve",
            "--port",
            str(self.port),
            "--lag-file",
            str(self.lag_file),
            "--data-dir",
            str(data / "data"),
            "--keys-file",
            str(keys_file),
            "--database-url",
            url,
            "--token-delay",
            str(self.args.token_delay),
            "--usage-rows",
            str(self.args.usage_rows),
        ]
        if self.args.db == "postgres":
            cmd += ["--redis-url", self.args.redis_url]
        self._log = open(data / "server.log", "wb")  # noqa: SIM115 (closed in __exit__)
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not (keys_file.is_file() and _healthy(self.base)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{self.log_tail()}")
            time.sleep(0.1)
        self.keys = json.loads(keys_file.read_text())
        return self

    def alive(self) -> bool:
        return self.proc.poll() is None

    def mark_loop_stats(self) -> None:
        self.lag_file.with_name(self.lag_file.name + ".mark").touch()

    def loop_stats(self) -> dict:
        """The server's event-loop lag and stalls so far (written every second)."""
        with contextlib.suppress(OSError, ValueError):
            return json.loads(self.lag_file.read_text())
        return {}

    def log_tail(self, n: int = 3000) -> str:
        path = Path(self._tmp.name) / "server.log"
        return path.read_text(errors="replace")[-n:] if path.is_file() else ""

    def __exit__(self, *exc: object) -> None:
        stop_process(self.proc)
        self._log.close()
        self._tmp.cleanup()
        if self._pg_name:
            _pg_admin(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)')


def _pg_admin(sql: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as connection:
        connection.execute(sa.text(sql))
    engine.dispose()


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


# --- the good tenant ------------------------------------------------------------------------
@dataclass
class GoodStats:
    ttft: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)

    def pct(self, q: float) -> float:
        if not self.ttft:
            return float("nan")
        ordered = sorted(self.ttft)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def good_client(base: str, key: str, stats: GoodStats, stop: float, index: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    body = {
        "model": "glm-4",
        "stream": True,
        "max_tokens": 16,
        "temperature": 0,
        "messages": [{"role": "user", "content": f"client {index}: tell me about the weather"}],
    }
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        while True:  # at least once, however late the loop got here
            started = time.perf_counter()
            try:
                first, done = await _one_stream(client, body)
            except httpx.HTTPError as exc:
                stats.errors[type(exc).__name__] += 1
            else:
                record(stats, first, done, started)
            if time.monotonic() >= stop:
                return


def record(stats: GoodStats, first: float | str, done: bool, started: float) -> None:
    if isinstance(first, str):
        stats.errors[first] += 1
    elif not done:
        stats.errors["no [DONE]"] += 1
    else:
        stats.ttft.append(first - started)


async def _one_stream(client: httpx.AsyncClient, body: dict) -> tuple[float | str, bool]:
    first: float | str = "no content"
    async with client.stream("POST", f"{ZHIPU}/chat/completions", json=body) as response:
        if response.status_code != 200:
            return f"HTTP {response.status_code}", False
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return first, True
            if isinstance(first, str) and '"content"' in data:
                first = time.perf_counter()
            if '"error"' in data:
                return "error event", False
    return first, False


@dataclass
class Health:
    probes: int = 0
    failures: int = 0
    worst_ms: float = 0.0


async def probe_health(base: str, health: Health, stop: float) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        while True:  # at least once
            started = time.perf_counter()
            try:
                ok = (await client.get("/health")).status_code == 200
            except httpx.HTTPError:
                ok = False
            health.probes += 1
            health.failures += not ok
            health.worst_ms = max(health.worst_ms, (time.perf_counter() - started) * 1000)
            if time.monotonic() >= stop:
                return
            await asyncio.sleep(0.25)


# --- the hostile tenant ---------------------------------------------------------------------
def wide_schema(properties: int) -> dict:
    return {
        "type": "object",
        "properties": {
            f"field_{i}": {
                "type": "string",
                "pattern": r"^(\d{4}-\d{2}-\d{2}|[0-2]\d:[0-5]\d)$",
                "format": "date",
                "maxLength": 10_000,
            }
            for i in range(properties)
        },
        "required": [f"field_{i}" for i in range(min(properties, 50))],
    }


def deep_schema(depth: int) -> dict:
    """Nested `depth` levels, each with an `anyOf` beside the next level. The inner schema
    appears once per level: sharing it in both branches made the JSON 2**depth long, and the
    bench's own client ran out of memory serialising it before anything reached the server."""
    schema: dict = {"type": "string", "enum": ["x" * 64] * 50}
    for level in range(depth):
        schema = {
            "type": "object",
            "properties": {
                f"l{level}": schema,
                "alt": {"anyOf": [{"type": "integer"}, {"type": "string", "enum": ["y" * 64] * 50}]},
            },
        }
    return {
        "type": "object",
        "properties": {"root": {"type": "array", "items": schema, "minItems": 1, "maxItems": 1_000_000}},
    }


def tool_body(parameters: dict) -> dict:
    return {
        "model": "glm-4",
        "max_tokens": 8,
        "tool_choice": "auto",
        "messages": [{"role": "user", "content": "call the tool"}],
        "tools": [
            {"type": "function", "function": {"name": "f", "description": "d", "parameters": parameters}}
        ],
    }


async def attack_schema(client: httpx.AsyncClient, counts: Counter, stop: float, _ctx: dict) -> None:
    bodies = [
        tool_body(wide_schema(3000)),
        tool_body(deep_schema(40)),
        tool_body({"type": "object", "properties": {"d": {"type": "string", "pattern": "(a+)+$"}}}),
    ]
    turn = 0
    while time.monotonic() < stop:
        await _post(client, counts, "schema", f"{ZHIPU}/chat/completions", json=bodies[turn % len(bodies)])
        turn += 1


async def attack_refs(client: httpx.AsyncClient, counts: Counter, stop: float, ctx: dict) -> None:
    url = f"http://127.0.0.1:{ctx['blackhole_port']}/schema.json"
    bodies = [tool_body({"$ref": url}), tool_body({"type": "object", "$dynamicRef": url})]
    turn = 0
    while time.monotonic() < stop:
        await _post(client, counts, "refs", f"{ZHIPU}/chat/completions", json=bodies[turn % 2])
        turn += 1


async def attack_bodies(client: httpx.AsyncClient, counts: Counter, stop: float, _ctx: dict) -> None:
    many = json.dumps(
        {"model": "glm-4", "max_tokens": 4, "messages": [{"role": "user", "content": "x"}] * 100_000}
    ).encode()
    over = b'{"model":"glm-4","messages":[' + b'{"role":"user","content":"y"},' * 400_000 + b"]}"
    turn = 0
    while time.monotonic() < stop:
        data = many if turn % 2 == 0 else over
        await _post(
            client,
            counts,
            "bodies",
            f"{ZHIPU}/chat/completions",
            content=data,
            headers={"Content-Type": "application/json"},
        )
        turn += 1


async def attack_jobs(client: httpx.AsyncClient, counts: Counter, stop: float, _ctx: dict) -> None:
    lines = "\n".join(
        json.dumps(
            {
                "custom_id": f"r{i}",
                "method": "POST",
                "url": "/v4/chat/completions",
                "body": {
                    "model": "glm-4",
                    "max_tokens": 16,
                    "messages": [{"role": "user", "content": "a long story"}],
                },
            }
        )
        for i in range(2000)
    ).encode()
    chat = {"model": "glm-4", "max_tokens": 16, "messages": [{"role": "user", "content": "later"}]}
    turn = 0
    while time.monotonic() < stop:
        if turn % 10 == 0:
            uploaded = await _post(
                client,
                counts,
                "jobs:file",
                f"{ZHIPU}/files",
                data={"purpose": "batch"},
                files={"file": ("b.jsonl", lines)},
            )
            if uploaded is not None and uploaded.status_code == 200:
                await _post(
                    client,
                    counts,
                    "jobs:batch",
                    f"{ZHIPU}/batches",
                    json={"input_file_id": uploaded.json()["id"], "endpoint": "/v4/chat/completions"},
                )
        await _post(client, counts, "jobs:async", f"{ZHIPU}/async/chat/completions", json=chat)
        turn += 1


async def attack_logins(client: httpx.AsyncClient, counts: Counter, stop: float, _ctx: dict) -> None:
    while time.monotonic() < stop:
        await _post(
            client,
            counts,
            "logins",
            "/api/platform/auth/login",
            json={"login": GOOD_EMAIL, "password": uuid.uuid4().hex},
        )


async def attack_exports(_client: httpx.AsyncClient, counts: Counter, stop: float, ctx: dict) -> None:
    """A socket that asks for an export, reads a little, then hardly reads at all."""
    start, end = time.strftime("%Y-%m-01"), time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    request = (
        f"GET /api/platform/billing/export?start={start}&end={end}&format=json HTTP/1.1\r\n"
        f"Host: x\r\nAuthorization: Bearer {ctx['hostile_key']}\r\n\r\n"
    ).encode()
    while time.monotonic() < stop:
        reader, writer = await asyncio.open_connection("127.0.0.1", ctx["port"], limit=1024)
        sock = writer.get_extra_info("socket")
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        writer.write(request)
        await writer.drain()
        status = (await reader.readline()).decode(errors="replace").split(" ")[1:2]
        counts[f"exports:{status[0] if status else '?'}"] += 1
        while time.monotonic() < stop:  # trickle: 64 bytes a second
            chunk = await reader.read(64)
            if not chunk:
                break
            await asyncio.sleep(1.0)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _post(client: httpx.AsyncClient, counts: Counter, name: str, path: str, **kwargs):
    try:
        response = await client.post(path, **kwargs)
    except httpx.HTTPError as exc:
        counts[f"{name}:{type(exc).__name__}"] += 1
        await asyncio.sleep(0.05)
        return None
    counts[f"{name}:{response.status_code}"] += 1
    if response.status_code >= 400:
        await asyncio.sleep(0.01)  # a refused flood still comes back at once, just not in a spin
    return response


ATTACKERS = {
    "schema": (attack_schema, 2),
    "refs": (attack_refs, 2),
    "bodies": (attack_bodies, 2),
    "jobs": (attack_jobs, 2),
    "logins": (attack_logins, 4),
    "exports": (attack_exports, 4),
}


async def blackhole() -> tuple[asyncio.AbstractServer, int]:
    """A port that accepts connections and never answers."""
    held: list = []

    async def accept(reader, writer) -> None:
        held.append(writer)
        await asyncio.sleep(3600)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


# --- a phase ----------------------------------------------------------------------------------
@dataclass
class Phase:
    name: str
    good_requests: int
    ttft_p50_ms: float
    ttft_p99_ms: float
    good_errors: dict
    health_probes: int
    health_failures: int
    health_worst_ms: float
    server_alive: bool
    hostile: dict
    loop: dict = field(default_factory=dict)  # the server's event-loop lag and stalls


async def run_phase(args: argparse.Namespace, name: str, attacks: tuple[str, ...]) -> Phase:
    with Server(args) as server:
        stats, health = GoodStats(), Health()
        attackers = AttackProcess(server, attacks, args.ramp + args.duration) if attacks else None
        if attackers is not None:
            await asyncio.to_thread(attackers.wait_started)
            await asyncio.sleep(args.ramp)  # the flood is on first
        server.mark_loop_stats()  # the loop figures cover the measurement only
        stop = time.monotonic() + args.duration
        good = [
            asyncio.create_task(good_client(server.base, server.keys["good"]["key"], stats, stop, i))
            for i in range(args.good_clients)
        ]
        prober = asyncio.create_task(probe_health(server.base, health, stop))
        await asyncio.gather(*good, prober)
        counts = await asyncio.to_thread(attackers.result) if attackers is not None else {}
        alive = server.alive() and _healthy(server.base)
        loop = server.loop_stats()
        if not alive:
            print(server.log_tail(), file=sys.stderr)
    return Phase(
        name,
        len(stats.ttft),
        round(stats.pct(0.5), 1),
        round(stats.pct(0.99), 1),
        dict(stats.errors),
        health.probes,
        health.failures,
        round(health.worst_ms, 1),
        alive,
        dict(sorted(counts.items())),
        loop,
    )


class AttackProcess:
    """The hostile tenant's clients, in a process of their own (spawned: no inherited loop)."""

    def __init__(self, server: Server, attacks: tuple[str, ...], seconds: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._results, child = context.Pipe(duplex=False)
        ctx = {"base": server.base, "port": server.port, "hostile_key": server.keys["hostile"]["key"]}
        self._seconds = seconds
        self._proc = context.Process(
            target=attack_process, args=(ctx, attacks, seconds, child), name="hostile-tenant", daemon=True
        )
        self._proc.start()
        child.close()

    def wait_started(self) -> None:
        if not self._results.poll(60) or self._results.recv() != "started":
            raise RuntimeError("the attackers did not start")

    def result(self) -> dict:
        """The attackers' request counts, once they stopped (they stop on their own)."""
        counts: dict = {}
        if self._results.poll(self._seconds + 60):
            counts = self._results.recv()
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        return counts


def attack_process(ctx: dict, attacks: tuple[str, ...], seconds: float, results) -> None:
    counts = asyncio.run(attack_all(ctx, attacks, seconds, results))
    usage = resource.getrusage(resource.RUSAGE_SELF)  # the attackers' own CPU: on a small box
    counts["attacker_cpu_s"] = round(usage.ru_utime + usage.ru_stime, 1)  # it is the server's too
    results.send(counts)
    results.close()


async def attack_all(ctx: dict, attacks: tuple[str, ...], seconds: float, results) -> dict:
    counts: Counter = Counter()
    hole, hole_port = await blackhole()
    ctx = ctx | {"blackhole_port": hole_port}
    headers = {"Authorization": f"Bearer {ctx['hostile_key']}"}
    async with httpx.AsyncClient(base_url=ctx["base"], headers=headers, timeout=60) as hostile:
        stop = time.monotonic() + seconds
        tasks = [
            asyncio.create_task(ATTACKERS[a][0](hostile, counts, stop, ctx))
            for a in attacks
            for _ in range(ATTACKERS[a][1])
        ]
        results.send("started")
        await asyncio.sleep(max(0.0, stop - time.monotonic()))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    hole.close()
    return dict(counts)


def report(quiet: Phase, hostile: Phase, args: argparse.Namespace) -> dict:
    ratio = hostile.ttft_p99_ms / quiet.ttft_p99_ms if quiet.ttft_p99_ms else float("nan")
    print(
        f"\nhostile tenant bench: db={args.db} attacks={args.attacks} {args.duration}s per phase, "
        f"{args.good_clients} good streaming clients"
    )
    print(
        f"{'phase':<8} {'good req':>8} {'TTFT p50':>9} {'TTFT p99':>9} {'errors':>7} "
        f"{'health fail':>11} {'health worst':>12} alive"
    )
    for phase in (quiet, hostile):
        print(
            f"{phase.name:<8} {phase.good_requests:>8} {phase.ttft_p50_ms:>8.1f}ms "
            f"{phase.ttft_p99_ms:>8.1f}ms "
            f"{sum(phase.good_errors.values()):>7} {phase.health_failures:>11} "
            f"{phase.health_worst_ms:>10.1f}ms {phase.server_alive}"
        )
    print(f"p99 ratio hostile/quiet: {ratio:.2f} (goal <= 2)")
    if hostile.good_errors:
        print(f"good-tenant errors: {hostile.good_errors}")
    print(f"hostile requests: {hostile.hostile}")
    for phase in (quiet, hostile):
        loop = phase.loop
        print(
            f"{phase.name} server loop: lag max {loop.get('lag_max_ms')} ms, "
            f"p99 {loop.get('lag_p99_ms')} ms, {loop.get('lag_over_50ms')} ticks over 50 ms"
        )
        print(f"{phase.name} server CPU s by thread: {loop.get('cpu_s_by_thread')}")
    for where, samples in list(hostile.loop.get("stalls", {}).items())[:10]:
        print(f"  stall x{samples}: {where}")
    goal = ratio <= 2 and not hostile.good_errors and hostile.server_alive and not hostile.health_failures
    return {
        "quiet": asdict(quiet),
        "hostile": asdict(hostile),
        "p99_ratio": ratio,
        "goal_met": goal,
        "db": args.db,
        "attacks": args.attacks,
        "duration": args.duration,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="postgres: a fresh database on 127.0.0.1:5432 plus Redis limits",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument(
        "--attacks", default=",".join(DEFAULT_ATTACKS), help=f"comma-separated, of {','.join(ATTACKS)}"
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds the good tenant measures")
    parser.add_argument("--ramp", type=float, default=3.0, help="seconds the flood runs before measuring")
    parser.add_argument("--good-clients", type=int, default=4)
    parser.add_argument("--token-delay", type=float, default=0.002, help="fake engine: seconds per token")
    parser.add_argument("--usage-rows", type=int, default=20_000, help="hostile usage rows to export")
    parser.add_argument("--smoke", action="store_true", help="a few seconds per phase (the test suite)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    # the child process
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--keys-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--lag-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.duration, args.ramp, args.good_clients, args.usage_rows = 3.0, 1.0, 2, 2000
    unknown = set(args.attacks.split(",")) - set(ATTACKS) - {""}
    if unknown:
        parser.error(f"unknown attacks: {sorted(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(args)
        return 0
    attacks = tuple(a for a in args.attacks.split(",") if a)
    quiet = asyncio.run(run_phase(args, "quiet", ()))
    hostile = asyncio.run(run_phase(args, "hostile", attacks))
    results = report(quiet, hostile, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
