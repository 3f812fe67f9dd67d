"""MCP servers as tools: the operator allow-list, listing a server's tools and calling them.

Every interaction opens its own client session (`mcp` SDK, streamable HTTP or SSE) inside one
coroutine, under the request's deadline: nothing is held between requests.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import time
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

from openmaas.agents.items import new_item_id
from openmaas.agents.settings import McpConfig
from openmaas.chat.tools import FunctionTool, ToolCall
from openmaas.errors import InvalidField, MissingField, PlatformError

log = logging.getLogger(__name__)
NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
TRANSPORTS = ("streamable-http", "sse")
FieldTool = tuple[str, dict[str, Any]]  # an `mcp` tool and where the request had it ("tools[2]")


class McpServerFailed(PlatformError):
    """An allowed MCP server could not be reached or listed (HTTP 424, as OpenAI answers)."""

    http_status = 424
    code = "1234"


@dataclass(frozen=True)
class McpServer:
    label: str
    url: str
    transport: str
    allowed_tools: tuple[str, ...] | None
    headers: dict[str, str]


def parse_mcp_tool(tool: dict[str, Any], field: str, config: McpConfig) -> McpServer:
    """Both wire forms: Responses' flat `{"type": "mcp", "server_label", ...}` and Zhipu chat's
    nested `{"type": "mcp", "mcp": {...}}`."""
    nested = tool.get("mcp")
    spec: dict[str, Any] = nested if isinstance(nested, dict) else tool
    prefix = f"{field}.mcp" if spec is not tool else field
    label, url = spec.get("server_label"), spec.get("server_url")
    if not isinstance(label, str) or not label:
        raise MissingField(f"{prefix}.server_label")
    if not isinstance(url, str) or not url:
        raise MissingField(f"{prefix}.server_url")
    if not url_allowed(url, config.allowed_server_urls):
        raise InvalidField(
            f"{prefix}.server_url",
            f"{url!r} is not on this server's MCP allow-list "
            "(the operator sets OPENMAAS_AGENTS__MCP__ALLOWED_SERVER_URLS)",
        )
    transport = spec.get("transport_type") or "streamable-http"
    if transport not in TRANSPORTS:
        raise InvalidField(f"{prefix}.transport_type", "sse or streamable-http")
    allowed = spec.get("allowed_tools")
    if isinstance(allowed, dict):  # Responses' filter form {"tool_names": [...]}
        allowed = allowed.get("tool_names")
    if allowed is not None and not (isinstance(allowed, list) and all(isinstance(a, str) for a in allowed)):
        raise InvalidField(f"{prefix}.allowed_tools", "a list of tool names")
    if spec.get("require_approval") not in (None, "never"):
        raise InvalidField(
            f"{prefix}.require_approval",
            "only 'never': the platform calls the allowed tools itself (use allowed_tools)",
        )
    headers = spec.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise InvalidField(f"{prefix}.headers", "an object of string values")
    return McpServer(label, url, transport, tuple(allowed) if allowed is not None else None, headers)


def url_allowed(url: str, allowed: list[str]) -> bool:
    return any(url == entry or (entry.endswith("/") and url.startswith(entry)) for entry in allowed)


@dataclass
class McpToolbox:
    """The MCP tools offered to the model in one request, and how to call them."""

    functions: tuple[FunctionTool, ...]
    servers: dict[str, McpServer]  # tool name → its server
    list_items: list[dict[str, Any]]
    config: McpConfig

    def owns(self, name: str) -> bool:
        return name in self.servers

    async def call(self, call: ToolCall, deadline: float) -> McpCallDone:
        """Calls the tool: the result fed back to the model and the `mcp_call` item recording it."""
        server = self.servers[call.name]
        item = {
            "type": "mcp_call",
            "id": new_item_id("mcp"),
            "server_label": server.label,
            "name": call.name,
            "arguments": call.arguments,
            "output": None,
            "error": None,
            "status": "completed",
        }
        began = time.monotonic()
        try:
            output = await call_tool(server, call.name, json.loads(call.arguments), deadline)
        except Exception as exc:  # the model is told, and may answer without the tool
            item.update(error=f"{type(exc).__name__}: {exc}"[:500], status="failed")
            took = _ms_since(began)
            log.info("mcp call %s/%s failed after %d ms: %s", server.label, call.name, took, item["error"])
            return McpCallDone(f"The tool {call.name} failed: {item['error']}", item, took)
        took = _ms_since(began)
        log.info("mcp call %s/%s took %d ms", server.label, call.name, took)
        output = output[: self.config.max_result_chars]
        item["output"] = output
        return McpCallDone(output, item, took)


@dataclass(frozen=True)
class McpCallDone:
    output: str  # what the model is told
    item: dict[str, Any]  # the `mcp_call` item
    duration_ms: int


def _ms_since(began: float) -> int:
    return round((time.monotonic() - began) * 1000)


class McpGateway:
    def __init__(self, config: McpConfig) -> None:
        self.config = config

    def check(self, tools: Sequence[FieldTool]) -> list[McpServer]:
        """Shapes and the allow-list: no connection is made for a refused request."""
        return [parse_mcp_tool(tool, field, self.config) for field, tool in tools]

    async def open(self, tools: Sequence[FieldTool], deadline: float) -> McpToolbox:
        servers = self.check(tools)
        if importlib.util.find_spec("mcp") is None:
            raise McpServerFailed(
                "MCP tools need the `mcp` package on the server (pip install --no-deps mcp==1.30.0)"
            )
        functions: list[FunctionTool] = []
        owners: dict[str, McpServer] = {}
        items = []
        for server in servers:
            listed = await list_tools(server, deadline)
            offered = [t for t in listed if server.allowed_tools is None or t.name in server.allowed_tools]
            for tool in offered:
                if tool.name not in owners:
                    functions.append(tool)
                    owners[tool.name] = server
            items.append(
                {
                    "type": "mcp_list_tools",
                    "id": new_item_id("mcpl"),
                    "server_label": server.label,
                    "tools": [
                        {
                            "name": t.name,
                            "description": t.description,
                            "input_schema": t.parameters,
                            "annotations": None,
                        }
                        for t in offered
                    ],
                    "error": None,
                }
            )
        return McpToolbox(tuple(functions), owners, items, self.config)


# --- the mcp SDK, one session per interaction -------------------------------------------------
@asynccontextmanager
async def _session(server: McpServer, deadline: float):
    import anyio
    import httpx
    from mcp import ClientSession
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    seconds = max(deadline - time.monotonic(), 0.1)
    with anyio.fail_after(seconds):
        if server.transport == "sse":
            async with (
                sse_client(server.url, headers=server.headers, timeout=seconds, sse_read_timeout=seconds) as (
                    read,
                    write,
                ),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                yield session
            return
        # redirects are followed only within the allowed URL's origin (the SDK's rule)
        async with (
            create_mcp_http_client(server.headers, httpx.Timeout(seconds)) as client,
            streamable_http_client(server.url, http_client=client) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


async def list_tools(server: McpServer, deadline: float) -> list[FunctionTool]:
    try:
        async with _session(server, deadline) as session:
            listed = await session.list_tools()
    except Exception as exc:
        raise McpServerFailed(
            f"MCP server {server.label!r} ({server.url}) could not be listed: {type(exc).__name__}"
        ) from exc
    return [t for t in (_as_function(tool) for tool in listed.tools) if t is not None]


def _as_function(tool: Any) -> FunctionTool | None:
    """A listed tool the model can be offered (a usable name and a valid JSON Schema), else None."""
    schema = tool.inputSchema or {"type": "object", "properties": {}}
    if not NAME.match(tool.name or ""):
        return None
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except SchemaError:
        return None
    return FunctionTool(tool.name, tool.description or "", schema)


async def call_tool(server: McpServer, name: str, arguments: dict[str, Any], deadline: float) -> str:
    async with _session(server, deadline) as session:
        result = await session.call_tool(name, arguments)
    text = "\n".join(getattr(part, "text", "") or "" for part in result.content)
    if result.isError:
        raise RuntimeError(text or "the tool reported an error")
    return text
