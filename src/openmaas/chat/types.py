"""Internal chat request/result types; wire schemas convert to and from these."""

from __future__ import annotations

from dataclasses import dataclass, field

from openmaas.chat.structured import TEXT, OutputFormat
from openmaas.chat.tools import FunctionTool, ToolCall, ToolSpec
from openmaas.engines.base import ChatMessage, Thinking


@dataclass(frozen=True)
class SamplingOptions:
    """What the caller asked for; the service turns it into engine SamplingParams."""

    temperature: float | None = None
    top_p: float | None = None
    do_sample: bool = True
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[ChatMessage]
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    request_id: str | None = None
    user_id: str | None = None
    tools: ToolSpec | None = None
    output: OutputFormat = TEXT
    web_search: tuple[dict, ...] = ()  # results given to the model, returned to the caller
    thinking: Thinking = field(default_factory=Thinking)
    tool_stream: bool = False  # stream tool-call arguments as they are generated
    sensitive_check: bool | None = None  # sensitive_word_check: None = the operator's default


@dataclass(frozen=True)
class ToolCallDelta:
    """Part of a tool call as it is generated (`tool_stream`): the first delta of a call has
    its id and name, later ones more of its arguments' JSON text."""

    index: int
    id: str
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class ToolCallsEvent:
    """The model called tools (validated against their schemas)."""

    calls: list[ToolCall]
    streamed: int = 0  # how many of them already went out as ToolCallDeltas (tool_stream)


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int  # reasoning tokens included
    reasoning_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens included, served from the engine's prefix cache

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ChatResult:
    request_id: str
    model: str
    content: str
    finish_reason: str
    usage: Usage
    created: int
    tool_calls: list[ToolCall] | None = None
    web_search: tuple[dict, ...] = ()
    reasoning_content: str | None = None  # None: the model did not think


def request_to_dict(request: ChatRequest) -> dict:
    """JSON-safe form, for durable jobs."""
    from dataclasses import asdict

    return asdict(request)


def request_from_dict(data: dict) -> ChatRequest:
    sampling = dict(data.get("sampling") or {})
    sampling["stop"] = tuple(sampling.get("stop") or ())
    tools = data.get("tools")
    if tools:
        tools = ToolSpec(tuple(FunctionTool(**f) for f in tools["functions"]), tools["choice"])
    output = OutputFormat(**data["output"]) if data.get("output") else TEXT
    messages = [
        ChatMessage(**{**m, "parts": tuple(m["parts"]) if m.get("parts") else None}) for m in data["messages"]
    ]
    return ChatRequest(
        model=data["model"],
        messages=messages,
        sampling=SamplingOptions(**sampling),
        request_id=data.get("request_id"),
        user_id=data.get("user_id"),
        tools=tools,
        output=output,
        web_search=tuple(data.get("web_search") or ()),
        thinking=Thinking(**(data.get("thinking") or {})),
        tool_stream=bool(data.get("tool_stream")),
    )
