"""A stub OpenAI-compatible upstream on loopback that answers the way vLLM does with a
reasoning parser (`--reasoning-parser deepseek_r1|qwen3`) and a tool parser: reasoning in
its own delta field before the content, tool calls as `tool_calls` deltas whose arguments
arrive in pieces, usage with `completion_tokens_details.reasoning_tokens`. It records every
request body, so tests can see what OpenMaaS forwarded (thinking switch, kept reasoning,
image parts).

The upstream model name picks the reasoning field: `*-reasoning` sends vLLM's newer
`reasoning`, anything else the older `reasoning_content`. Stop strings (`stop`) end the
answer before the first match, as vLLM does, which names it in the choice's `stop_reason`;
`*-plain` models stop the same but say only `finish_reason: "stop"` (most OpenAI-compatible
servers), `*-deaf` models ignore `stop` and send the whole answer.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from tests.conftest import free_port

REASONING = ["The user ", "asks something; ", "I think ", "it through."]
ANSWER = ["Here is ", "my answer."]
TOOL_ARGUMENTS = ['{"city": ', '"Beij', 'ing", "days"', ": 3}"]


class StubUpstream:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.port = free_port()
        app = Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])])
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StubUpstream:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            assert time.monotonic() < deadline, "stub upstream did not start"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    async def _chat(self, request: Request) -> StreamingResponse:
        body = await request.json()
        self.requests.append(body)
        return StreamingResponse(self._events(body), media_type="text/event-stream")

    async def _events(self, body: dict[str, Any]):
        field = "reasoning" if body["model"].endswith("-reasoning") else "reasoning_content"
        thinks = (body.get("chat_template_kwargs") or {}).get("enable_thinking", True)
        yield _chunk(body, {"role": "assistant", "content": ""})
        reasoning = REASONING if thinks else []
        for piece in reasoning:
            yield _chunk(body, {field: piece})
        if body.get("tools"):
            yield _chunk(
                body,
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "chatcmpl-tool-1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": ""},
                        }
                    ]
                },
            )
            for piece in TOOL_ARGUMENTS:
                yield _chunk(body, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            finish, answer = "tool_calls", []
        else:
            finish, answer = "stop", _answer_for(body)
        answer, matched = _until_stop(body, answer)
        for piece in answer:
            yield _chunk(body, {"content": piece})
        yield _chunk(body, {}, finish, **_stop_fields(body, matched))
        completion = len(reasoning) + len(answer) + 1
        usage = {
            "prompt_tokens": 17,
            "completion_tokens": completion,
            "total_tokens": 17 + completion,
            "completion_tokens_details": {"reasoning_tokens": len(reasoning)},
        }
        yield f"data: {json.dumps({'id': 'chatcmpl-stub', 'choices': [], 'usage': usage})}\n\n"
        yield "data: [DONE]\n\n"


def _answer_for(body: dict[str, Any]) -> list[str]:
    last = body["messages"][-1]["content"]
    if isinstance(last, list):
        images = [p for p in last if p.get("type") == "image_url"]
        return [f"I see {len(images)} image(s)."]
    return ANSWER


def _until_stop(body: dict[str, Any], answer: list[str]) -> tuple[list[str], str | None]:
    """The answer pieces before the first stop string, and that string (vLLM's rule)."""
    text = "".join(answer)
    hits = [(text.find(s), s) for s in body.get("stop") or [] if s in text]
    if not hits or body["model"].endswith("-deaf"):
        return answer, None
    at, matched = min(hits)
    kept, used = [], 0
    for piece in answer:
        if used + len(piece) >= at:
            kept.append(piece[: at - used])
            break
        kept.append(piece)
        used += len(piece)
    return [p for p in kept if p], matched


def _stop_fields(body: dict[str, Any], matched: str | None) -> dict[str, Any]:
    return {} if body["model"].endswith("-plain") else {"stop_reason": matched}


def _chunk(body: dict[str, Any], delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
    payload = {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "model": body["model"],
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, **extra}],
    }
    return f"data: {json.dumps(payload)}\n\n"
