"""Request ids in the platform's shape: a timestamp followed by random hex."""

from __future__ import annotations

import secrets
import time


def new_request_id() -> str:
    return time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(8)
