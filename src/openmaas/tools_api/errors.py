"""Errors of the tool endpoints (codes from the platform's table in errors.py)."""

from __future__ import annotations

from openmaas.errors import InvalidRequest


class NoEngineConfigured(InvalidRequest):
    """1211: the model name is known, but no engine for it is configured on this server."""

    code = "1211"

    def __init__(self, model: str, what: str, how: str) -> None:
        super().__init__(
            f"模型不可用 ({model}: no {what} engine is configured on this server; {how})", param="model"
        )
