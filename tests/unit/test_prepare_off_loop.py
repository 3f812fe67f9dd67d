"""Large prompts are rendered and tokenized off the event loop (issue #15 item 5); small ones
inline. The llama.cpp engine's template and tokenizer are stand-ins here (no weights)."""

from __future__ import annotations

import threading
from pathlib import Path

from openmaas.config import ThinkingConfig
from openmaas.engines.base import ChatMessage, Thinking
from openmaas.engines.chat_template import ChatTemplate
from openmaas.engines.llamacpp import OFF_LOOP_PROMPT_CHARS, LlamaCppEngine


class TemplateStandIn:
    takes_reasoning = False

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.kwargs: list[dict] = []

    def render(self, messages, tools=None, **kwargs) -> str:
        self.threads.append(threading.get_ident())
        self.kwargs.append(kwargs)
        return "".join(f"<{m.role}>{m.content}" for m in messages) + "<assistant>"


class TokenizerStandIn:
    def __init__(self) -> None:
        self.threads: list[int] = []

    def tokenize(self, text: bytes, add_bos: bool, special: bool) -> list[int]:
        self.threads.append(threading.get_ident())
        return list(range(len(text) // 4))


def engine(thinking: ThinkingConfig | None = None) -> LlamaCppEngine:
    llm = LlamaCppEngine(Path("unused.gguf"), context_window=4096, threads=1, thinking=thinking)
    llm._template, llm._tokenizer = TemplateStandIn(), TokenizerStandIn()
    return llm


async def test_large_prompts_leave_the_loop_small_ones_do_not():
    llm = engine()
    loop_thread = threading.get_ident()
    await llm.prepare([ChatMessage("user", "short")])
    await llm.prepare([ChatMessage("user", "x" * (OFF_LOOP_PROMPT_CHARS + 1))])
    assert llm._template.threads[0] == loop_thread and llm._tokenizer.threads[0] == loop_thread
    assert llm._template.threads[1] != loop_thread and llm._tokenizer.threads[1] != loop_thread


async def test_thinking_switch_and_tags_reach_the_prompt():
    llm = engine(ThinkingConfig(switch="enable_thinking"))
    on = await llm.prepare([ChatMessage("user", "q")], thinking=Thinking(enabled=True))
    off = await llm.prepare([ChatMessage("user", "q")], thinking=Thinking(enabled=False))
    assert llm._template.kwargs == [{"enable_thinking": True}, {"enable_thinking": False}]
    assert on.text.endswith("<think>\n") and on.think.starts_inside and on.think.show
    assert not off.think.show and not off.text.endswith("<think>\n")
    soft = engine(ThinkingConfig(switch="no_think"))
    prompt = await soft.prepare(
        [ChatMessage("user", "q"), ChatMessage("assistant", "a"), ChatMessage("user", "q2")],
        thinking=Thinking(enabled=False),
    )
    assert prompt.text.endswith("<user>q2\n/no_think<assistant>")
    plain = engine()
    assert (await plain.prepare([ChatMessage("user", "q")], thinking=Thinking(enabled=True))).think is None


async def test_kept_reasoning_reaches_only_thinking_models():
    history = [
        ChatMessage("user", "q"),
        ChatMessage("assistant", "a", reasoning_content="R"),
        ChatMessage("user", "q2"),
    ]
    source = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}<assistant>"
    plain, thinker = engine(), engine(ThinkingConfig())
    plain._template = thinker._template = ChatTemplate(source)
    assert "R" not in (await plain.prepare(history)).text
    assert "<assistant><think>\nR\n</think>\n\na<user>" in (await thinker.prepare(history)).text
