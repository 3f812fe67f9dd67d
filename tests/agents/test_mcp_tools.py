"""MCP tools: a server built with the `mcp` SDK on loopback (streamable HTTP and SSE), called by the
platform from chat (both surfaces), Responses and assistants; the operator allow-list."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import openai
import pytest
import sqlalchemy as sa
import uvicorn
from openai import OpenAI
from zhipuai import ZhipuAI

from openmaas.agents.settings import AgentSettings, McpConfig
from openmaas.store.tables import McpCallTrace, UsageRecord
from tests.agents.conftest import agent_settings, tool_call_text
from tests.conftest import FAKE_MODEL, LiveServer, add_tenant, free_port, start_live_server
from tests.sdk._support import wait_for

mcp_server = pytest.importorskip("mcp.server.fastmcp")


class LoopbackMcp:
    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.port = free_port()
        server = mcp_server.FastMCP("inventory", host="127.0.0.1", port=self.port)

        @server.tool()
        def stock_level(sku: str) -> str:
            """How many items of a SKU are in stock."""
            self.calls.append({"sku": sku})
            return f"{sku}: 42 in stock"

        @server.tool()
        def recount(sku: str) -> str:
            """Recounts a SKU (the scanner is offline: it always fails)."""
            raise RuntimeError(f"scanner offline, cannot recount {sku}")

        @server.tool()
        def delete_everything() -> str:
            """A tool the requests do not allow."""
            self.calls.append({"deleted": True})
            return "deleted"

        self.http_url = f"http://127.0.0.1:{self.port}/mcp"
        self.sse_url = f"http://127.0.0.1:{self.port}/sse"
        app = server.streamable_http_app()
        sse = server.sse_app()
        app.router.routes.extend(sse.router.routes)  # both transports on one loopback port
        self.uvicorn = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.uvicorn.run, daemon=True)

    def start(self) -> LoopbackMcp:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.uvicorn.started:
            assert time.monotonic() < deadline, "MCP server did not start"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.uvicorn.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def mcp() -> Iterator[LoopbackMcp]:
    server = LoopbackMcp().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mcp_platform(tmp_path_factory, mcp) -> Iterator[LiveServer]:
    allowed = AgentSettings(mcp=McpConfig(allowed_server_urls=[mcp.http_url, mcp.sse_url], max_rounds=3))
    server = start_live_server(agent_settings(tmp_path_factory.mktemp("mcp"), agents=allowed))
    yield server
    server.stop()


@pytest.fixture
def fake(mcp_platform):
    engine = mcp_platform.services.catalog.resolve(FAKE_MODEL).engine
    yield engine
    engine._scripted.clear()


@pytest.fixture
def tenant(mcp_platform):
    return add_tenant(mcp_platform.services, f"mcp-{uuid.uuid4().hex[:8]}")


def mcp_tool(url: str, transport: str = "streamable-http") -> dict:
    return {
        "type": "mcp",
        "mcp": {
            "server_label": "inventory",
            "server_url": url,
            "transport_type": transport,
            "allowed_tools": ["stock_level"],
        },
    }


ASK = [{"role": "user", "content": "How many SKU-7 are in stock?"}]


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_zhipu_chat_calls_the_mcp_server(mcp_platform, mcp, fake, tenant, transport):
    url = mcp.http_url if transport == "streamable-http" else mcp.sse_url
    fake.enqueue(tool_call_text("stock_level", {"sku": "SKU-7"}), "There are 42 SKU-7 in stock.")
    client = ZhipuAI(api_key=tenant.api_key, base_url=mcp_platform.zhipu_base, max_retries=0)
    before = len(mcp.calls)
    answer = client.chat.completions.create(model="glm-4", messages=ASK, tools=[mcp_tool(url, transport)])
    assert answer.choices[0].message.content == "There are 42 SKU-7 in stock."
    assert mcp.calls[before:] == [{"sku": "SKU-7"}]
    assert "SKU-7: 42 in stock" in fake.prompts[-1].text  # the result was fed back
    assert "delete_everything" not in str(fake.prompts[-2:])  # not offered: not in allowed_tools
    rows = wait_for(lambda: _usage_rows(mcp_platform, tenant.account_id, 2))
    assert answer.usage.prompt_tokens == sum(r.prompt_tokens for r in rows)  # both rounds billed


def _usage_rows(server, account_id: str, count: int) -> list[UsageRecord] | None:
    with server.services.db.session() as session:
        rows = session.scalars(sa.select(UsageRecord).where(UsageRecord.account_id == account_id)).all()
    return list(rows) if len(rows) >= count else None


def test_openai_chat_stream_with_mcp(mcp_platform, mcp, fake, tenant):
    fake.enqueue(tool_call_text("stock_level", {"sku": "A1"}), "A1: 42.")
    client = OpenAI(api_key=tenant.api_key, base_url=mcp_platform.openai_base, max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="glm-4",
            messages=ASK,
            stream=True,
            tools=[{"type": "mcp", "server_label": "inventory", "server_url": mcp.http_url}],
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "A1: 42."
    assert chunks[-1].choices[0].finish_reason == "stop"


def request_detail(server: LiveServer, tenant, request_id: str) -> httpx.Response:
    return httpx.get(f"{server.base_url}/console/api/activity/traces/{request_id}", headers=tenant.headers)


def test_openai_chat_mcp_calls_are_on_the_request_trace(mcp_platform, mcp, fake, tenant):
    fake.enqueue(
        tool_call_text("stock_level", {"sku": "T1"}), tool_call_text("recount", {"sku": "T1"}), "Done."
    )
    client = OpenAI(api_key=tenant.api_key, base_url=mcp_platform.openai_base, max_retries=0)
    answer = client.chat.completions.create(
        model="glm-4",
        messages=ASK,
        tools=[{"type": "mcp", "server_label": "inventory", "server_url": mcp.http_url}],
    )
    assert answer.choices[0].message.content == "Done."
    detail = request_detail(mcp_platform, tenant, answer.id)  # "chatcmpl-<request id>" as the client got it
    assert detail.status_code == 200, detail.text
    calls = detail.json()["mcp_calls"]
    assert [(c["server_label"], c["name"], json.loads(c["arguments"]), c["endpoint"]) for c in calls] == [
        ("inventory", "stock_level", {"sku": "T1"}, "chat"),
        ("inventory", "recount", {"sku": "T1"}, "chat"),
    ]
    assert (calls[0]["output"], calls[0]["error"]) == ("T1: 42 in stock", None)
    assert calls[1]["output"] is None and "scanner offline" in calls[1]["error"]  # a failed call is on it too
    assert all(isinstance(c["duration_ms"], int) and c["duration_ms"] >= 0 for c in calls)
    rows = wait_for(lambda: request_detail(mcp_platform, tenant, answer.id).json()["usage"] or None)
    assert rows[0]["request_id"] == answer.id.removeprefix("chatcmpl-") and rows[0]["endpoint"] == "chat"


def test_zhipu_chat_stream_trace_is_its_owners_only(mcp_platform, mcp, fake, tenant):
    fake.enqueue(tool_call_text("stock_level", {"sku": "Z9"}), "Z9: 42.")
    client = ZhipuAI(api_key=tenant.api_key, base_url=mcp_platform.zhipu_base, max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="glm-4", messages=ASK, stream=True, tools=[mcp_tool(mcp.sse_url, "sse")]
        )
    )
    request_id = chunks[0].id
    calls = request_detail(mcp_platform, tenant, request_id).json()["mcp_calls"]
    assert [(c["name"], c["output"]) for c in calls] == [("stock_level", "Z9: 42 in stock")]
    with mcp_platform.services.db.session() as session:  # durable: in the database, under the account
        stored = session.scalars(sa.select(McpCallTrace).where(McpCallTrace.request_id == request_id)).all()
    assert [(r.account_id, r.server_label, r.name) for r in stored] == [
        (tenant.account_id, "inventory", "stock_level")
    ]
    intruder = add_tenant(mcp_platform.services, f"intruder-{uuid.uuid4().hex[:8]}")
    refused = request_detail(mcp_platform, intruder, request_id)
    assert refused.status_code == 404 and "Z9" not in refused.text


def test_responses_mcp_calls_are_traced_under_the_response_id(mcp_platform, mcp, fake, tenant):
    fake.enqueue(tool_call_text("stock_level", {"sku": "R5"}), "R5 has 42.")
    client = OpenAI(api_key=tenant.api_key, base_url=mcp_platform.openai_base, max_retries=0)
    response = client.responses.create(
        model="glm-4",
        input="R5?",
        store=False,
        tools=[{"type": "mcp", "server_label": "inventory", "server_url": mcp.http_url}],
    )
    calls = request_detail(mcp_platform, tenant, response.id).json()["mcp_calls"]
    assert [(c["name"], c["output"], c["endpoint"]) for c in calls] == [
        ("stock_level", "R5: 42 in stock", "responses")
    ]


def test_responses_records_listing_and_call(mcp_platform, mcp, fake, tenant):
    fake.enqueue(tool_call_text("stock_level", {"sku": "B2"}), "B2 has 42.")
    client = OpenAI(api_key=tenant.api_key, base_url=mcp_platform.openai_base, max_retries=0)
    response = client.responses.create(
        model="glm-4",
        input="Stock of B2?",
        tools=[
            {
                "type": "mcp",
                "server_label": "inventory",
                "server_url": mcp.http_url,
                "allowed_tools": ["stock_level"],
                "require_approval": "never",
            }
        ],
    )
    kinds = [item.type for item in response.output]
    assert kinds == ["mcp_list_tools", "mcp_call", "message"]
    listing, call = response.output[0], response.output[1]
    assert [t.name for t in listing.tools] == ["stock_level"]
    assert (call.name, call.output, call.server_label) == ("stock_level", "B2: 42 in stock", "inventory")
    assert response.output_text == "B2 has 42."
    events = []
    fake.enqueue(tool_call_text("stock_level", {"sku": "C3"}), "C3 has 42.")
    for event in client.responses.create(
        model="glm-4",
        input="C3?",
        stream=True,
        tools=[{"type": "mcp", "server_label": "inventory", "server_url": mcp.http_url}],
    ):
        events.append(event)
    assert events[-1].type == "response.completed"
    assert [i.type for i in events[-1].response.output] == ["mcp_list_tools", "mcp_call", "message"]


def test_rounds_are_bounded(mcp_platform, mcp, fake, tenant):
    fake.enqueue(*[tool_call_text("stock_level", {"sku": f"S{i}"}) for i in range(5)])
    client = ZhipuAI(api_key=tenant.api_key, base_url=mcp_platform.zhipu_base, max_retries=0)
    before = len(mcp.calls)
    client.chat.completions.create(model="glm-4", messages=ASK, tools=[mcp_tool(mcp.http_url)])
    assert len(mcp.calls) - before == 2  # max_rounds=3: two tool rounds, then the answer round


def test_off_the_allow_list_is_refused_before_any_connection(mcp_platform, mcp, fake, tenant):
    before_calls, before_generations = len(mcp.calls), fake.generations
    response = httpx.post(
        f"{mcp_platform.zhipu_base}/chat/completions",
        headers=tenant.headers,
        json={
            "model": "glm-4",
            "messages": ASK,
            "tools": [
                {"type": "function", "function": {"name": "f"}},
                mcp_tool("http://169.254.169.254/latest"),
            ],
        },
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "1214" and "tools[1].mcp.server_url" in error["message"]
    assert "169.254.169.254" in error["message"]
    assert len(mcp.calls) == before_calls and fake.generations == before_generations


def test_approval_flows_are_refused(mcp_platform, mcp, tenant):
    client = OpenAI(api_key=tenant.api_key, base_url=mcp_platform.openai_base, max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(
            model="glm-4",
            input="x",
            tools=[
                {
                    "type": "mcp",
                    "server_label": "inventory",
                    "server_url": mcp.http_url,
                    "require_approval": "always",
                }
            ],
        )
    assert caught.value.body["param"] == "tools[0].require_approval"


def test_default_allow_list_is_empty(agent_server, mcp):
    tenant = add_tenant(agent_server.services, "no-mcp")
    response = httpx.post(
        f"{agent_server.openai_base}/chat/completions",
        headers=tenant.headers,
        json={"model": "glm-4", "messages": ASK, "tools": [mcp_tool(mcp.http_url)]},
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "tools[0].mcp.server_url"


def test_assistant_with_an_mcp_tool(mcp_platform, mcp, fake, tenant):
    created = httpx.post(
        f"{mcp_platform.zhipu_base}/assistants",
        headers=tenant.headers,
        json={"name": "stock", "model": "glm-4", "tools": [mcp_tool(mcp.http_url)]},
    )
    assert created.status_code == 200, created.text
    fake.enqueue(tool_call_text("stock_level", {"sku": "D4"}), "D4: 42.")
    client = ZhipuAI(api_key=tenant.api_key, base_url=mcp_platform.zhipu_base, max_retries=0)
    chunks = list(
        client.assistant.conversation(
            assistant_id=created.json()["id"],
            stream=True,
            messages=[{"role": "user", "content": [{"type": "text", "text": "D4?"}]}],
        )
    )
    tool_chunks = [c for c in chunks if c.choices[0].delta.type == "tool_calls"]
    assert tool_chunks[0].choices[0].delta.tool_calls[0].function.outputs[0].content == "D4: 42 in stock"
    texts = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.type == "content"]
    assert "".join(texts) == "D4: 42."
