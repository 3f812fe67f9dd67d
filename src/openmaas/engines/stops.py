"""Stop-string matching over a stream of text pieces.

Text that might be the start of a stop string is held back until the next piece
decides it, so a stop string never leaks to the client even when split across tokens.
"""

from __future__ import annotations


class StopMatcher:
    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._held = ""
        self.stopped = False
        self.matched: str | None = None  # the stop string that ended the text

    def feed(self, piece: str) -> str:
        """Returns the text that is now safe to emit."""
        if not self._stops:
            return piece
        buffer = self._held + piece
        hits = [(i, s) for s in self._stops if (i := buffer.find(s)) >= 0]
        if hits:
            first, self.matched = min(hits, key=lambda hit: hit[0])
            self.stopped = True
            self._held = ""
            return buffer[:first]
        keep = self._longest_stop_prefix_suffix(buffer)
        self._held = buffer[len(buffer) - keep :] if keep else ""
        return buffer[: len(buffer) - keep]

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held

    def _longest_stop_prefix_suffix(self, buffer: str) -> int:
        best = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(buffer)), best, -1):
                if stop.startswith(buffer[-size:]):
                    best = size
                    break
        return best
