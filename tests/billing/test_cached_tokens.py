"""Cache-hit tokens: prompt tokens an engine served from its prefix cache are reported as
`usage.prompt_tokens_details.cached_tokens` and billed at the cache rate (issue 16 item 5)."""

from __future__ import annotations

import httpx
import openai
import sqlalchemy as sa

from openmaas.auth.accounts import create_account
from openmaas.auth.keys import issue_key
from openmaas.config import ModelConfig
from openmaas.engines.base import ChatMessage, Finished, SamplingParams
from openmaas.engines.upstream import UpstreamChatEngine
from openmaas.engines.upstream_http import UpstreamTarget
from openmaas.store.tables import UsageRecord
from tests.conftest import FAKE_MODEL, start_live_server

HISTORY = [{"role": "user", "content": "a long shared system prompt and a first question"}]


def test_reused_prefix_is_reported_and_billed_at_the_cache_rate(make_settings):
    settings = make_settings(
        models=[
            ModelConfig(
                name=FAKE_MODEL,
                engine="fake",
                aliases=["glm-4"],
                context_window=256,
                max_output_tokens=32,
                options={"prefix_cache": True},
            )
        ]
    )
    server = start_live_server(settings)
    try:
        services = server.services
        with services.db.session() as session:
            account = create_account(session, "cash-only").id
            key = issue_key(session, services.sealer, account, "k").api_key
        services.billing.admin_credit("admin", account, 10_000_000, "funds")
        client = openai.OpenAI(api_key=key, base_url=server.openai_base, max_retries=0)
        first = client.chat.completions.create(model="glm-4", messages=HISTORY, max_tokens=4)
        second = client.chat.completions.create(model="glm-4", messages=HISTORY, max_tokens=4)
        chunks = list(
            client.chat.completions.create(
                model="glm-4",
                messages=HISTORY,
                max_tokens=4,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        client.close()
    finally:
        server.stop()
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached == second.usage.prompt_tokens - 1  # all but the last prompt token reused
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == cached
    with services.db.session() as session:
        rows = session.execute(
            sa.select(UsageRecord.cached_tokens, UsageRecord.cost_micro)
            .where(UsageRecord.account_id == account)
            .order_by(UsageRecord.id)
        ).all()
    assert [c for c, _ in rows] == [0, cached, cached]
    assert rows[1].cost_micro < rows[0].cost_micro  # the cache rate (50% by default) applied
    assert services.billing.reconcile(account) == []


async def test_an_upstreams_own_cached_count_is_passed_on():
    usage = {"prompt_tokens": 40, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 32}}
    body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\n'
        b'data: {"choices":[],"usage":' + httpx.Response(200, json=usage).content + b"}\n\n"
        b"data: [DONE]\n\n"
    )
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
    )
    target = UpstreamTarget.build("up", ["http://a.test"], "served", None, {"health_path": None})
    engine = UpstreamChatEngine(target, transport=transport)
    prompt = await engine.prepare([ChatMessage("user", "hi")])
    events = [e async for e in engine.generate(prompt, SamplingParams(max_tokens=8), "acct")]
    assert events[-1] == Finished("stop", 40, 2, 0, cached_tokens=32)
