"""The real Qwen2.5-Coder-0.5B GGUF behind a live server, driven by the unmodified SDKs.

Answers are kept short (max_tokens <= 32, greedy) so the module stays fast on 2 cores.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
import zhipuai
from openai import OpenAI
from zhipuai import ZhipuAI

from tests.conftest import add_tenant, assembled_default_model
from tests.sdk._support import usage_rows, wait_for

pytestmark = pytest.mark.slow

CJK = re.compile(r"[\u4e00-\u9fff]")
TUTORIAL = [{"role": "user", "content": "你好"}]
GREEDY = {"temperature": 0}  # the zhipuai SDK turns this into do_sample=false (§6.1)


@pytest.fixture(scope="module")
def tokenizer() -> Iterator[object]:
    """The model's own tokenizer and chat template, loaded apart from the server."""
    import llama_cpp

    vocab = llama_cpp.Llama(model_path=str(assembled_default_model()), vocab_only=True, verbose=False)
    yield vocab
    vocab.close()


def prompt_token_count(tokenizer, messages: list[dict]) -> int:
    """Render with llama-cpp-python's HF-compatible Jinja formatter, count with the vocab."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def special(token_id: int) -> str:
        return tokenizer.detokenize([token_id], special=True).decode() if token_id >= 0 else ""

    formatter = Jinja2ChatFormatter(
        tokenizer.metadata["tokenizer.chat_template"],
        eos_token=special(tokenizer.token_eos()),
        bos_token=special(tokenizer.token_bos()),
    )
    prompt = formatter(messages=messages).prompt
    return len(tokenizer.tokenize(prompt.encode(), add_bos=True, special=True))


@pytest.fixture
def zhipu(real_model_server) -> Iterator[ZhipuAI]:
    client = ZhipuAI(
        api_key=real_model_server.tenant.api_key, base_url=real_model_server.zhipu_base, max_retries=0
    )
    yield client
    client.close()


@pytest.fixture
def oai(real_model_server) -> Iterator[OpenAI]:
    client = OpenAI(
        api_key=real_model_server.tenant.api_key, base_url=real_model_server.openai_base, max_retries=0
    )
    yield client
    client.close()


def test_tutorial_snippet_answers_in_chinese(real_model_server, zhipu, tokenizer):
    response = zhipu.chat.completions.create(model="glm-4", messages=TUTORIAL, max_tokens=32, **GREEDY)
    answer = response.choices[0].message.content
    assert answer.strip() and CJK.search(answer), answer
    assert response.choices[0].finish_reason in ("stop", "length")
    usage = response.usage
    assert usage.prompt_tokens == prompt_token_count(tokenizer, TUTORIAL)
    assert 1 <= usage.completion_tokens <= 32
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    rows = wait_for(lambda: usage_rows(real_model_server.services, request_id=response.request_id))
    assert (rows[0].status, rows[0].prompt_tokens, rows[0].completion_tokens) == (
        "success",
        usage.prompt_tokens,
        usage.completion_tokens,
    )


def test_prompt_tokens_count_the_system_prompt_too(zhipu, tokenizer):
    messages = [
        {"role": "system", "content": "你是一个乐于助人的助手。"},
        {"role": "user", "content": "用一句话介绍北京。"},
    ]
    response = zhipu.chat.completions.create(model="glm-4", messages=messages, max_tokens=8, **GREEDY)
    assert response.usage.prompt_tokens == prompt_token_count(tokenizer, messages)


def test_stream(zhipu):
    chunks = list(
        zhipu.chat.completions.create(model="glm-4", messages=TUTORIAL, max_tokens=16, stream=True, **GREEDY)
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.strip() and CJK.search(text), text
    last = chunks[-1]
    assert last.choices[0].finish_reason in ("stop", "length")
    assert 1 <= last.usage.completion_tokens <= 16
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_and_non_stream_agree_when_greedy(zhipu):
    question = [{"role": "user", "content": "Name three colors."}]
    whole = zhipu.chat.completions.create(model="glm-4", messages=question, max_tokens=12, **GREEDY)
    chunks = list(
        zhipu.chat.completions.create(model="glm-4", messages=question, max_tokens=12, stream=True, **GREEDY)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == whole.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_max_tokens_5_stops_with_length(zhipu, tokenizer):
    story = [{"role": "user", "content": "Write a long story about a dragon who learns to paint."}]
    response = zhipu.chat.completions.create(model="glm-4", messages=story, max_tokens=5, **GREEDY)
    assert response.choices[0].finish_reason == "length"
    assert response.usage.completion_tokens == 5
    text = response.choices[0].message.content
    assert text and len(tokenizer.tokenize(text.encode(), add_bos=False, special=False)) <= 7


def test_prompt_over_the_context_window_is_1261(real_model_server, zhipu, tokenizer):
    long_text = " ".join(f"item{i}" for i in range(3000))
    messages = [{"role": "user", "content": long_text}]
    assert prompt_token_count(tokenizer, messages) > 4096  # the server's window for this model
    with pytest.raises(zhipuai.APIRequestFailedError) as caught:
        zhipu.chat.completions.create(model="glm-4", messages=messages, max_tokens=8)
    assert caught.value.status_code == 400
    assert caught.value.response.json()["error"]["code"] == "1261"


def test_openai_sdk(oai, tokenizer):
    question = [{"role": "user", "content": "Say hello in one short sentence."}]
    completion = oai.chat.completions.create(model="glm-4", messages=question, max_tokens=16, temperature=0)
    assert completion.choices[0].message.content.strip()
    assert completion.usage.prompt_tokens == prompt_token_count(tokenizer, question)
    chunks = list(
        oai.chat.completions.create(
            model="glm-4",
            messages=question,
            max_tokens=16,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == completion.choices[0].message.content
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == completion.usage.completion_tokens


def test_two_concurrent_streams_from_two_accounts_both_finish(real_model_server):
    second = add_tenant(real_model_server.services, "second-account")
    keys = [real_model_server.tenant.api_key, second.api_key]
    prompts = ["用一句话介绍上海。", "Describe the sea in one sentence."]
    results: dict[int, list] = {}
    errors: list[BaseException] = []
    started = threading.Barrier(2)

    def stream(index: int) -> None:
        client = ZhipuAI(api_key=keys[index], base_url=real_model_server.zhipu_base, max_retries=0)
        try:
            started.wait()
            results[index] = list(
                client.chat.completions.create(
                    model="glm-4",
                    messages=[{"role": "user", "content": prompts[index]}],
                    max_tokens=24,
                    stream=True,
                    **GREEDY,
                )
            )
        except BaseException as exc:  # surfaced below, in the test thread
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    for index in range(2):
        chunks = results[index]
        assert "".join(c.choices[0].delta.content or "" for c in chunks).strip()
        assert chunks[-1].choices[0].finish_reason in ("stop", "length")
        assert 1 <= chunks[-1].usage.completion_tokens <= 24
    wanted = {real_model_server.tenant.account_id, second.account_id}
    wait_for(lambda: wanted <= {r.account_id for r in usage_rows(real_model_server.services)})
