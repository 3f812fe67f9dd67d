"""llama.cpp's log lines as log records (JSON like every other line under `openmaas serve`).

llama-cpp-python installs a log callback that prints to stderr past `logging`, so raw lines
landed between the JSON ones; and it maps ggml's levels by an older enum, so warnings passed
its ERROR-level filter. `route_llama_log()` replaces that callback with one that maps
ggml.h's current levels onto the `openmaas.llama` logger: llama.cpp's chatter (INFO, DEBUG)
becomes DEBUG, warnings and errors stay what they are. Continuation pieces (`CONT`, e.g.
the progress dots of a load) are dropped.
"""

from __future__ import annotations

import logging

import llama_cpp as C

LOGGER = "openmaas.llama"
# ggml.h: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5
_LEVELS = {1: logging.DEBUG, 2: logging.DEBUG, 3: logging.WARNING, 4: logging.ERROR}


def _forward(level: int, text: bytes, _user_data: object) -> None:
    to = _LEVELS.get(level)
    message = text.decode("utf-8", "replace").strip() if to is not None else ""
    if message and to is not None:
        logging.getLogger(LOGGER).log(to, message)


# llama.cpp keeps the pointer for the life of the process (any later call may log), so the
# ctypes wrapper lives as long as this module: it holds no state of its own.
_CALLBACK = C.llama_log_callback(_forward)


def route_llama_log() -> None:
    """Install the router (idempotent; llama.cpp's log callback is process-wide)."""
    C.llama_log_set(_CALLBACK, None)
