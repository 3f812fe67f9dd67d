"""The chat core's reasoning delta, as the agent surfaces see it.

`ReasoningDelta` (a thinking model's chain of thought, engines/base.py) lands with the
reasoning change to the chat core; until it has, a stand-in that nothing produces keeps the
translations' typed `isinstance` checks in place, so they pass reasoning through as soon as
the core emits it (Responses: a `reasoning` item; Messages: a `thinking` block).
"""

from __future__ import annotations

from dataclasses import dataclass

try:
    from openmaas.engines.base import ReasoningDelta
except ImportError:  # the chat core does not report reasoning yet

    @dataclass(frozen=True, slots=True)
    class ReasoningDelta:  # type: ignore[no-redef]
        text: str
        tokens: int = 1


__all__ = ["ReasoningDelta"]
