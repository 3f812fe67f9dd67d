"""Bench helper: how long the server's event loop is held, and by what.

`LoopWatch(app, path)` wraps an ASGI app: on the first scope (the lifespan) it starts, on
the server's own loop, a ticker that stamps the time every `tick` seconds, and a watchdog
thread. Each tick's lateness is the loop's lag (a callback held it). When the stamp is older
than `stall` seconds the watchdog samples the loop thread's stack, so a stall is attributed
to the code that holds the loop (the innermost frames in the openmaas package, else the
innermost ones). Every second the stats go to `path` as JSON:
`{"ticks", "lag_max_ms", "lag_p99_ms", "lag_over_50ms", "stalls": {"file:line fn": samples},
"cpu_s_by_thread": {"loop" | "AnyIO worker thread" | "argon2" | ...: seconds}}`.
A stall whose loop thread runs no Python code (waiting for the GIL, or in C) also samples
the other busy threads (`[thread] ...`): the GIL holder is among them. Creating the file
`path` + ".mark" starts the figures afresh (the bench does at the start of measuring).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

TOP_FRAMES = 3


class LoopWatch:
    def __init__(self, app, path: Path, tick: float = 0.005, stall: float = 0.02) -> None:
        self.app = app
        self.path = path
        self.tick = tick
        self.stall = stall
        self.lags: list[float] = []
        self.stalls: Counter = Counter()
        self._stamp = time.monotonic()
        self._loop_thread: int | None = None
        self._loop_thread_native: int | None = None
        self._started = False

    async def __call__(self, scope, receive, send) -> None:
        if not self._started:
            self._started = True
            self._loop_thread = threading.get_ident()
            self._loop_thread_native = threading.get_native_id()
            asyncio.get_running_loop().create_task(self._ticker())
            threading.Thread(target=self._watchdog, daemon=True, name="loop-watch").start()
        await self.app(scope, receive, send)

    async def _ticker(self) -> None:
        written = time.monotonic()
        while True:
            before = time.monotonic()
            self._stamp = before
            await asyncio.sleep(self.tick)
            now = time.monotonic()
            self.lags.append(max(0.0, now - before - self.tick))
            if now - written >= 1.0:
                written = now
                self._restart_if_marked()
                self._write()

    def _restart_if_marked(self) -> None:
        mark = self.path.with_name(self.path.name + ".mark")
        if mark.exists():
            mark.unlink()
            self.lags, self.stalls = [], Counter()
            self._cpu_base = self._cpu_now()

    def _cpu_by_thread(self) -> dict[str, float]:
        """CPU seconds since the mark, by kind of thread (the loop, the thread pool, argon2...)."""
        now, base = self._cpu_now(), getattr(self, "_cpu_base", {})
        return {k: round(v - base.get(k, 0.0), 2) for k, v in sorted(now.items(), key=lambda kv: -kv[1])}

    def _cpu_now(self) -> dict[str, float]:
        names = {t.native_id: t.name for t in threading.enumerate()}
        totals: Counter = Counter()
        for task in Path("/proc/self/task").iterdir():
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            tid = int(task.name)
            name = "loop" if tid == self._loop_thread_native else names.get(tid, "native")
            kind = name.rstrip("0123456789_-").split(" (")[0] or name  # "AnyIO worker thread", "argon2_"
            totals[kind] += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return dict(totals)

    def _watchdog(self) -> None:
        last_sampled = 0.0
        while True:
            time.sleep(self.stall / 4)
            stamp = self._stamp
            if time.monotonic() - stamp > self.stall and stamp != last_sampled:
                frames = sys._current_frames()
                frame = frames.get(self._loop_thread)
                if frame is not None:
                    where = _where(frame)
                    self.stalls[where] += 1
                    if not where.count(" <- "):  # no Python running on the loop thread
                        for tid, other in frames.items():
                            if tid not in (self._loop_thread, threading.get_ident()) and _busy(other):
                                self.stalls["[thread] " + _where(other)] += 1
                    last_sampled = stamp  # one sample per stall

    def _write(self) -> None:
        lags = sorted(self.lags)
        stats = {
            "cpu_s_by_thread": self._cpu_by_thread(),
            "ticks": len(lags),
            "lag_max_ms": round(lags[-1] * 1000, 1) if lags else 0.0,
            "lag_p99_ms": round(lags[int(0.99 * (len(lags) - 1))] * 1000, 1) if lags else 0.0,
            "lag_over_50ms": sum(lag > 0.05 for lag in lags),
            "stalls": dict(self.stalls.most_common(25)),
        }
        self.path.write_text(json.dumps(stats))


def _where(frame) -> str:
    stack = traceback.extract_stack(frame)
    ours = [f for f in stack if "/openmaas/" in f.filename][-TOP_FRAMES:]
    chosen = ours + [stack[-1]] if stack and (not ours or ours[-1] is not stack[-1]) else ours
    return " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(chosen))


IDLE = (
    "threading.py",
    "queue.py",
    "selectors.py",
    "_loop_watch.py",
    "batcher.py",  # parked
    "writer_gate.py",
)


def _busy(frame) -> bool:
    """Not a thread parked waiting for work (a pool's queue, a condition, a selector)."""
    return not any(frame.f_code.co_filename.endswith(name) for name in IDLE)
