"""Billing under faults: concurrent streams, client disconnects and a kill -9 of the server.

Starts a server on the fake engine (slow tokens, so streams are in flight), opens `--streams`
concurrent streaming chat requests spread over `--accounts` cash-only accounts, cuts a random
share of them client-side after a random number of chunks, and `kill -9`s the server mid-run.
It restarts the server on the same database (start-up recovers what the dead process left),
runs a second, smaller wave (holds must be released: no false 1113), stops it gracefully and
reconciles, per request (by the stream's id) and per account:

- delivered: completion tokens the client received (one content chunk = one fake token);
- charged: completion tokens on the request's usage rows (`recovered` rows included);
- lost: delivered - charged where positive; double: a request with more than one usage row
  that charged; the largest single loss, against the stated bound (one flush window of tokens);
- money: each account's spend equals its usage rows' cost, and the ledger reconciles.

    .venv/bin/python bench/fault_billing.py                      # SQLite, 200 streams
    .venv/bin/python bench/fault_billing.py --database postgres  # PostgreSQL (local, postgres@)
    .venv/bin/python bench/fault_billing.py --smoke              # a few seconds (tests)
    .venv/bin/python bench/fault_billing.py --database postgres --workers 2 \
        --redis redis://127.0.0.1:6379/0 [--kill worker]         # openmaas serve --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
FUNDS_MICRO = 1_000_000_000  # 1000 元 per account: never the limit
PER_TOKEN_MICRO = 100  # glm-4: 0.1 元 / 1k tokens


@dataclass
class Stream:
    account: str
    wave: int
    request_id: str | None = None
    delivered: int = 0
    status: str = "pending"  # done | cut (client left) | broken (server died) | refused
    refusal: str | None = None  # "<http status> <business code>" of a refused stream


@dataclass
class Report:
    streams: list[Stream] = field(default_factory=list)


# --- the server (a child process) ------------------------------------------------------------
def bench_settings(args: argparse.Namespace) -> dict:
    """The server's settings as plain data: given to `Settings` (one process) or as OPENMAAS_*
    variables to `openmaas serve --workers N` (each worker builds its own app from them)."""
    model = {
        "name": "fake-chat",
        "engine": "fake",
        "aliases": ["glm-4"],
        "context_window": 8192,
        "max_output_tokens": 4096,
        "options": {"token_delay": args.token_delay},
    }
    # a weight-free embedding model: start-up (and the restart after the kill) takes a second
    embeddings = {
        "models": [
            {
                "name": "fake-embedding",
                "engine": "fake",
                "aliases": ["embedding-2"],
                "embedding_id": 3,
                "dimensions": 64,
            }
        ]
    }
    settings = {
        "environment": "test",
        "data_dir": str(args.data_dir),
        "database_url": args.db,
        "models": [model],
        "secret_key": "fault",
        "embeddings": embeddings,
        "run_jobs_in_process": False,
        "bootstrap_account": False,
        "log_level": "warning",
        "billing": {
            "registration_grant_tokens": 0,
            "prices": {"fake-chat": {"input_per_1k": "0.001"}, "fake-embedding": {"input_per_1k": "0.0005"}},
        },
        "limits": {
            "rpm_per_key": 10**9,
            "tpm_per_key": 10**12,
            "concurrency_by_tier": dict.fromkeys(("V0", "V1", "V2", "V3"), 4096),
        },
    }
    if args.redis:
        settings["redis_url"] = args.redis
    return settings


def settings_env(settings: dict) -> dict[str, str]:
    return {
        f"OPENMAAS_{key.upper()}": value if isinstance(value, str) else json.dumps(value)
        for key, value in settings.items()
    }


def serve(args: argparse.Namespace) -> None:
    """One server process; with --setup-only, just migrate and create the accounts (for
    `openmaas serve --workers N`, started next)."""
    import uvicorn

    from openmaas.app import create_app
    from openmaas.auth.accounts import create_account
    from openmaas.auth.keys import issue_key
    from openmaas.config import Settings
    from openmaas.store import migrate

    data = Path(args.data_dir)
    app = create_app(Settings(**bench_settings(args)))
    services = app.state.services
    keys_file = data / "keys.json"
    if not keys_file.is_file():
        migrate.upgrade(services.db.engine)
        keys = {}
        for i in range(args.accounts):
            with services.db.session() as session:
                account = create_account(session, f"fault-{i}")
                key = issue_key(session, services.sealer, account.id, "fault")
            services.billing.admin_credit("bench", account.id, FUNDS_MICRO, "fault bench funds")
            keys[account.id] = key.api_key
        keys_file.write_text(json.dumps(keys))
    if args.setup_only:
        services.db.dispose()
        return
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


class Server:
    """The bench's server: one process, or `openmaas serve --workers N` (its own process group,
    so kill -9 takes the supervisor and every worker at once, as a host crash would)."""

    def __init__(self, args: argparse.Namespace, db: str, data: Path, port: int) -> None:
        self.args = argparse.Namespace(**vars(args))
        self.args.db, self.args.data_dir, self.args.port = db, str(data), port
        self.cmd = [
            sys.executable,
            __file__,
            "--serve",
            "--db",
            db,
            "--data-dir",
            str(data),
            "--port",
            str(port),
            "--accounts",
            str(args.accounts),
            "--token-delay",
            str(args.token_delay),
        ] + (["--redis", args.redis] if args.redis else [])
        self.data, self.base = data, f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self.log = open(data / "server.log", "ab")  # noqa: SIM115 (closed in close())

    def _launch(self) -> subprocess.Popen:
        env = dict(os.environ, OPENMAAS_GC_FREEZE_AFTER_START="false")
        if self.args.workers == 1:
            return subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        subprocess.run(
            self.cmd + ["--setup-only"], stdout=self.log, stderr=subprocess.STDOUT, env=env, check=True
        )
        env |= settings_env(bench_settings(self.args))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent / "src"), env.get("PYTHONPATH")]))
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "openmaas.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.args.port),
                "--workers",
                str(self.args.workers),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    def start(self) -> dict[str, str]:
        self.proc = self._launch()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{(self.data / 'server.log').read_text()[-3000:]}")
            try:
                if (self.data / "keys.json").is_file() and httpx.get(
                    f"{self.base}/health", timeout=1
                ).status_code == 200:
                    return json.loads((self.data / "keys.json").read_text())
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not start")

    def kill9(self) -> None:
        if self.args.workers == 1:
            self.proc.send_signal(signal.SIGKILL)
        else:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def kill9_one_worker(self) -> None:
        """kill -9 one of `--workers N`'s processes: the others stay up and recover its calls
        (its pid is gone on this host: their next meter heartbeat charges and releases)."""
        workers = [pid for pid in _children(self.proc.pid) if b"spawn_main" in _cmdline(pid)]
        os.kill(min(workers), signal.SIGKILL)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # graceful: flushes usage, gives leases back
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def close(self) -> None:
        self.stop()
        self.log.close()


def _children(parent: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except (OSError, ValueError):
            continue
        if entry.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            out.append(int(entry))
    return out


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


# --- the clients -------------------------------------------------------------------------------
async def one_stream(
    client: httpx.AsyncClient, base: str, key: str, stream: Stream, words: int, cut_after: int | None
) -> None:
    body = {
        "model": "glm-4",
        "stream": True,
        "max_tokens": words + 8,
        "messages": [{"role": "user", "content": " ".join(f"w{i}" for i in range(words))}],
    }
    try:
        async with client.stream(
            "POST",
            f"{base}/api/paas/v4/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
        ) as response:
            if response.status_code != 200:
                await response.aread()
                stream.status = "refused"
                stream.refusal = f"{response.status_code} {_error_code(response)}"
                return
            finished = False
            async for line in response.aiter_lines():
                if not line.startswith("data:") or line.strip() == "data: [DONE]":
                    continue
                chunk = json.loads(line[5:])
                stream.request_id = stream.request_id or chunk.get("id")
                choices = chunk.get("choices") or [{}]
                finished = finished or bool(choices[0].get("finish_reason"))
                if (choices[0].get("delta") or {}).get("content"):
                    stream.delivered += 1
                    if cut_after is not None and stream.delivered >= cut_after:
                        stream.status = "cut"
                        return  # closing the response: the client went away
            stream.status = "done" if finished else "broken"  # ended without a finish: cut by a crash
    except (httpx.HTTPError, json.JSONDecodeError):
        stream.status = "broken"


def _error_code(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return response.text[:60]


async def wave(
    base: str,
    keys: dict[str, str],
    streams: list[Stream],
    words: int,
    cut_share: float,
    rng: random.Random,
    kill_at: float | None = None,
    kill=None,
) -> None:
    """All streams at once; with `kill`, the server is killed once the streams still running
    have delivered `kill_at` of their tokens on average (mid-stream, whatever the start-up lag)."""
    limits = httpx.Limits(max_connections=len(streams) + 8, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=httpx.Timeout(120, connect=30), limits=limits) as client:
        tasks = [
            asyncio.create_task(
                one_stream(
                    client,
                    base,
                    keys[s.account],
                    s,
                    words,
                    rng.randint(1, words) if rng.random() < cut_share else None,
                )
            )
            for s in streams
        ]
        if kill_at is not None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                running = [s.delivered for s in streams if s.status == "pending"]
                if not running or sum(running) >= kill_at * words * len(running):
                    break
                await asyncio.sleep(0.01)
            await asyncio.to_thread(kill)
        await asyncio.gather(*tasks)


# --- reconciliation ----------------------------------------------------------------------------
def reconcile(db_url: str, streams: list[Stream], keys: dict[str, str]) -> dict:
    import sqlalchemy as sa

    from openmaas.billing.ledger import reconcile as ledger_reconcile
    from openmaas.store.db import Database
    from openmaas.store.tables import LedgerEntry, Reservation, UsageRecord, Wallet

    db = Database(db_url)
    with db.session() as session:
        rows = session.execute(
            sa.select(
                UsageRecord.account_id,
                UsageRecord.request_id,
                UsageRecord.completion_tokens,
                UsageRecord.cost_micro,
                UsageRecord.status,
            )
        ).all()
        cash = {a: w for a, w in session.execute(sa.select(Wallet.account_id, Wallet.cash_micro))}
        held = session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(Reservation.held_micro), 0)).where(
                Reservation.state == "held"
            )
        )
        charged_ledger = dict(
            session.execute(
                sa.select(LedgerEntry.account_id, sa.func.sum(LedgerEntry.cash_micro))
                .where(LedgerEntry.kind == "charge")
                .group_by(LedgerEntry.account_id)
            ).all()
        )
        discrepancies = sum(len(ledger_reconcile(session, a)) for a in keys)
    db.dispose()
    by_request: dict[str, list] = defaultdict(list)
    for row in rows:
        by_request[row.request_id].append(row)
    losses, doubles, unmatched = [], 0, 0
    delivered_by_account: dict[str, int] = defaultdict(int)
    charged_by_account: dict[str, int] = defaultdict(int)
    for stream in streams:
        delivered_by_account[stream.account] += stream.delivered
        if stream.request_id is None:
            unmatched += stream.delivered > 0
            continue
        mine = by_request.get(stream.request_id, [])
        if sum(1 for r in mine if r.cost_micro > 0 or r.completion_tokens > 0) > 1:
            doubles += 1
        charged = sum(r.completion_tokens for r in mine)
        charged_by_account[stream.account] += charged
        losses.append(max(stream.delivered - charged, 0))
    spent = {a: FUNDS_MICRO - cash.get(a, 0) for a in keys}
    costs = defaultdict(int)
    for row in rows:
        costs[row.account_id] += row.cost_micro
    return {
        "streams": len(streams),
        "statuses": _count(s.status for s in streams),
        "refusals": _count(f"wave {s.wave}: {s.refusal}" for s in streams if s.refusal),
        "delivered_tokens": sum(s.delivered for s in streams),
        "charged_tokens": sum(charged_by_account.values()),
        "lost_tokens": sum(losses),
        "largest_single_loss": max(losses, default=0),
        "streams_with_loss": sum(1 for loss in losses if loss),
        "double_charges": doubles,
        "unmatched_streams": unmatched,
        "recovered_rows": sum(1 for r in rows if r.status == "recovered"),
        "held_after_stop_micro": int(held or 0),
        "money_matches_usage_rows": all(spent[a] == costs[a] == -charged_ledger.get(a, 0) for a in keys),
        "ledger_discrepancies": discrepancies,
        "per_account": {
            a[:12]: {
                "delivered": delivered_by_account[a],
                "charged": charged_by_account[a],
                "spent_micro": spent[a],
            }
            for a in keys
        },
    }


def _count(values) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for value in values:
        out[value] += 1
    return dict(out)


# --- main ----------------------------------------------------------------------------------------
def database(kind: str, tmp: Path) -> tuple[str, object]:
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'fault.db'}", None
    import psycopg

    name = f"omfault_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"postgresql://postgres@127.0.0.1:5432/{name}", drop


def run(args: argparse.Namespace) -> dict:
    from _server import free_port

    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="openmaas-fault-") as tmp:
        data = Path(tmp)
        db_url, drop = database(args.database, data)
        server = Server(args, db_url, data, free_port())
        try:
            keys = server.start()
            accounts = list(keys)
            first = [Stream(accounts[i % len(accounts)], 1) for i in range(args.streams)]
            began = time.perf_counter()
            one_worker = args.kill == "worker"
            kill = server.kill9_one_worker if one_worker else server.kill9
            asyncio.run(
                wave(
                    server.base, keys, first, args.words, args.cut_share, rng, kill_at=args.kill_at, kill=kill
                )
            )
            restarted = time.perf_counter()
            if one_worker:  # the survivors recover the dead worker's calls on their heartbeat
                time.sleep(args.recover_wait)
            else:
                keys = server.start()  # start-up recovers the dead process's calls and holds
            recovery_s = time.perf_counter() - restarted
            second = [Stream(accounts[i % len(accounts)], 2) for i in range(max(args.streams // 4, 4))]
            asyncio.run(wave(server.base, keys, second, args.words // 2, args.cut_share, rng))
            server.stop()
            if args.log:
                Path(args.log).write_bytes((data / "server.log").read_bytes())
            result = reconcile(db_url, first + second, keys)
            result |= {
                "database": args.database,
                "workers": args.workers,
                "redis": bool(args.redis),
                "killed": args.kill,
                "token_delay_s": args.token_delay,
                "tokens_per_stream": args.words,
                "loss_bound_tokens": int(args.flush_window / args.token_delay) + 2,
                "restart_to_healthy_s": round(recovery_s, 2),
                "second_wave_refused": sum(s.status == "refused" for s in second),
                "wall_s": round(time.perf_counter() - began, 1),
            }
        finally:
            server.close()
            if drop is not None:
                drop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--setup-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--workers", type=int, default=1, help="openmaas serve --workers N (use PostgreSQL)")
    parser.add_argument(
        "--kill",
        choices=["server", "worker"],
        default="server",
        help="kill -9 the whole server, or one of --workers N (the others recover it)",
    )
    parser.add_argument(
        "--recover-wait", type=float, default=5.0, help="with --kill worker: seconds before the second wave"
    )
    parser.add_argument("--redis", help="the servers' OPENMAAS_REDIS_URL, e.g. redis://127.0.0.1:6379/0")
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--accounts", type=int, default=8)
    parser.add_argument("--words", type=int, default=150, help="tokens per stream")
    parser.add_argument("--token-delay", type=float, default=0.02, help="seconds per fake token")
    parser.add_argument("--cut-share", type=float, default=0.3, help="share of streams the client cuts")
    parser.add_argument("--kill-at", type=float, default=0.5, help="kill -9 at this share of a stream")
    parser.add_argument("--flush-window", type=float, default=1.0, help="the meter's flush window (s)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="20 streams of 120 tokens (seconds; tests)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    parser.add_argument("--log", help="copy the server's log here")
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    if args.smoke:
        args.streams, args.accounts, args.words = 20, 3, 120
    result = run(args)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>26}: {value}")
    ok = (
        result["double_charges"] == 0
        and result["largest_single_loss"] <= result["loss_bound_tokens"]
        and result["money_matches_usage_rows"]
        and not result["ledger_discrepancies"]
        and not result["held_after_stop_micro"]
        and not result["second_wave_refused"]
    )
    print("verdict:", "PASS" if ok else "FAIL")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
