"""Operator settings of the agent APIs (`OPENMAAS_AGENTS__*`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class McpConfig(BaseModel):
    # Which MCP servers requests may make the platform connect to. Default: none (no fetching
    # of arbitrary URLs). An entry matches a `server_url` exactly, or as a prefix when it ends
    # with "/" (e.g. "http://tools.internal:9000/").
    allowed_server_urls: list[str] = Field(default_factory=list)
    max_rounds: int = Field(default=4, ge=1, le=16)  # model runs per request (tool call → result → …)
    timeout_seconds: float = Field(default=60.0, gt=0)  # listing + calls + rounds, per request
    max_result_chars: int = Field(default=20_000, ge=100)  # a tool result fed back to the model
    trace_retention_days: int = Field(default=30, ge=1)  # calls kept on the requests' traces


class AgentSettings(BaseModel):
    mcp: McpConfig = Field(default_factory=McpConfig)
