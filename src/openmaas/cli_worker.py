"""`openmaas worker`: run the durable job worker (every job kind) without serving HTTP.

It builds the same app as `serve` and runs its lifespan — migrations, engines,
embeddings, the worker loop — so jobs run with exactly the server's wiring; point the
server at the same database and data dir and set `OPENMAAS_RUN_JOBS_IN_PROCESS=false`
there to move all job work (fine-tuning included) into this process. SIGINT/SIGTERM stop
it: a running fine-tune saves a checkpoint and resumes on the next start.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import typer
from rich.console import Console

from openmaas.config import Settings, load_settings

console = Console()


async def serve_jobs(settings: Settings, stop: asyncio.Event | None = None) -> None:
    from openmaas.app import create_app

    app = create_app(settings.model_copy(update={"run_jobs_in_process": True}))
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with app.router.lifespan_context(app):
        console.print(f"[green]worker {app.state.services.jobs.worker_id} running jobs[/green]")
        await stop.wait()
    console.print("worker stopped")


def add_worker_command(app: typer.Typer, prepare: Callable[[Settings], None]) -> None:
    @app.command()
    def worker() -> None:
        """Run background jobs (async chat, ingestion, batches, fine-tuning) without serving HTTP."""
        settings = load_settings()
        prepare(settings)
        asyncio.run(serve_jobs(settings))
