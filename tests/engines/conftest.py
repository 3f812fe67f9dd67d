"""A real llama.cpp engine on the packaged 0.5B, started on a loop of the test's own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from openmaas.engines.llamacpp import LlamaCppEngine
from tests.conftest import assembled_default_model

EngineAndLoop = tuple[LlamaCppEngine, asyncio.AbstractEventLoop]


def running_engine(context_window: int, parallel: int, **options: Any) -> Iterator[EngineAndLoop]:
    """For a module-scoped fixture: `yield from running_engine(...)` gives (engine, loop)."""
    engine = LlamaCppEngine(
        assembled_default_model(), context_window=context_window, threads=2, parallel=parallel, **options
    )
    loop = asyncio.new_event_loop()
    loop.run_until_complete(engine.start())
    yield engine, loop
    loop.run_until_complete(engine.close())
    loop.close()
