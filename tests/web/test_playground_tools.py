"""The playground's tool tabs in Chromium against a live server: images, rerank, tokenizer, web
search, OCR/layout parsing, speech and transcription, each through its cookie-session console
route (billed like the API: usage rows are checked), each with its happy path and one bad input
shown as a sentence in the UI language, and the Models page's "Try" opening the right tab.

Real engines where this machine has them: the fake chat/embedding engines, packaged PP-OCR,
Debian's espeak-ng. Where no engine ships (image generation, transcription, a search provider),
a stand-in upstream answers over httpx.MockTransport, as tests/tool_endpoints do; without one
the tabs show the API's "not configured" answer in words. Screenshots in both languages."""

from __future__ import annotations

import base64
import io
import math
import re
import shutil
import struct
import wave
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from openmaas.config import AccountsConfig, Settings
from openmaas.engines.upstream_tools import UpstreamToolClient
from openmaas.images.settings import ImageModelConfig, ImagesSettings
from openmaas.search.providers import SearxNGProvider
from tests.accounts.conftest import install_recorder
from tests.conftest import fake_embeddings, fake_models, start_live_server, with_fake_prices
from tests.sdk._support import usage_rows, wait_for
from tests.tool_endpoints.test_ocr_tables import png, table_page
from tests.web.conftest import Console
from tests.web.test_money_console import account_id_of

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs Debian's espeak-ng"),
]
TIMEOUT = 60_000
CASH_MICRO = 10_000_000
CJK = re.compile(r"[\u4e00-\u9fff]")
BAD_INPUT = "status of 400"  # the browser logs each refused call; the tests provoke them


def stand_in_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (240, 120, 40)).save(out, "PNG")
    return out.getvalue()


def image_upstream(request: httpx.Request) -> httpx.Response:
    """An OpenAI-style image server: b64 PNGs for /v1/images/generations."""
    assert request.url.path == "/v1/images/generations"
    image = base64.b64encode(stand_in_png()).decode()
    return httpx.Response(200, json={"created": 0, "data": [{"b64_json": image}]})


def searx(request: httpx.Request) -> httpx.Response:
    assert request.url.params["q"] == "长城"
    return httpx.Response(
        200,
        json={
            "results": [
                {
                    "title": "长城 - 百科",
                    "url": "https://example.com/great-wall",
                    "content": "长城全长两万多公里。",
                    "engine": "wiki",
                    "publishedDate": "2026-01-02",
                },
                {
                    "title": "Unsafe link",
                    "url": "javascript:alert(1)",
                    "content": "never a link",
                    "engine": "x",
                },
            ]
        },
    )


def tone_wav(seconds: float = 1.5) -> bytes:
    """A recording to transcribe: 16 kHz mono, a 440 Hz tone (the stand-in hears anything)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16_000)
        frames = range(int(16_000 * seconds))
        writer.writeframes(
            b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 16_000))) for i in frames)
        )
    return out.getvalue()


def asr_upstream(request: httpx.Request) -> httpx.Response:
    assert b"RIFF" in request.read()
    return httpx.Response(200, json={"text": "hello from the playground"})


@pytest.fixture(scope="module")
def tools_console(tmp_path_factory, browser) -> Iterator[Console]:
    data = tmp_path_factory.mktemp("playground-tools")
    image_model = ImageModelConfig(
        name="stand-in-image",
        aliases=["cogview-3"],
        engine="upstream",
        upstreams=["http://images.test"],
        sizes=["64x64"],
    )
    settings = with_fake_prices(
        Settings(
            environment="test",
            data_dir=data,
            database_url=f"sqlite:///{data}/db.sqlite",
            models=fake_models(context_window=4096),
            embeddings=fake_embeddings(),
            images=ImagesSettings(models=[image_model]),
            job_poll_seconds=0.05,
            secret_key="test-secret",
            accounts=AccountsConfig(cookie_secure=False, password_hash_profile="CHEAPEST"),
        )
    )
    server = start_live_server(settings)
    engine = server.services.images.models[0].engine
    engine._client = engine.target.async_client(httpx.MockTransport(image_upstream))
    yield Console(server, install_recorder(server.services), browser)
    server.stop()


@pytest.fixture
def tools(tools_console) -> Iterator[Console]:
    tools_console.problems.clear()
    tools_console.allowed.clear()
    yield tools_console
    assert tools_console.problems == [], tools_console.problems


def paying_page(console: Console, context, email: str) -> tuple[Page, str]:
    page = console.signed_in_page(context, email)
    account = account_id_of(console, email)
    console.server.services.billing.admin_credit("test", account, CASH_MICRO, "playground tools")
    return page, account


def open_tab(console: Console, page: Page, mode: str, lang: str, model: str | None = None) -> None:
    query = f"mode={mode}&lang={lang}" + (f"&model={model}" if model else "")
    page.goto(console.url(f"/console/playground?{query}"))
    expect(page.locator(f"#{mode}-panel")).to_be_visible()
    expect(page.locator("#chat-panel")).to_be_hidden()
    expect(page.locator(f"#mode-{mode}")).to_have_attribute("aria-current", "page")


def said(page: Page, state: str, sentence: str) -> None:
    """The tab's state line and the toast carry the sentence; the code is in small print."""
    expect(page.locator(f"#{state}")).to_have_text(sentence)
    expect(page.locator("#toast span")).to_have_text(sentence)


def english_only(page: Page, panel: str) -> None:
    text = page.locator(f"#{panel}").inner_text()
    assert not CJK.search(text.replace("长城", "")), text


@contextmanager
def no_image_models(console: Console) -> Iterator[None]:
    """As on a server with no image model configured (none ships)."""
    images = console.server.services.images
    models, by_name = images.models, images._by_name
    images.models, images._by_name = [], {}
    try:
        yield
    finally:
        images.models, images._by_name = models, by_name


def test_models_page_lists_tool_models_by_kind_and_try_opens_their_tab(tools: Console):
    console = tools
    with console.context() as context:
        context.set_default_timeout(TIMEOUT)
        page, _ = paying_page(console, context, "kinds@example.com")
        for lang in ("en", "zh"):
            page.goto(console.url(f"/console/models?lang={lang}"))
            table = page.locator("#tool-table tbody")
            for kind in ("image", "rerank", "ocr", "speech"):
                expect(table.locator(f"tr[data-kind={kind}]").first).to_be_visible()
            expect(table.locator("tr[data-kind=web_search]")).to_have_count(0)  # no provider: nothing to try
            expect(table.locator("tr[data-model=cogview-3]")).to_contain_text("0.25")  # per image
            expect(page.locator("#other-prices tbody")).not_to_contain_text("cogview-3")  # served: a tool row
            expect(page.locator("#other-prices tbody")).not_to_contain_text("tool:ocr")
            console.shot(page, f"models-tools-{lang}")
        expect(page.locator("#model-table tbody")).not_to_contain_text("glm-ocr")
        page.locator("#tool-table tr[data-model=glm-ocr]").get_by_role("link").click()
        expect(page).to_have_url(re.compile(r"mode=ocr&model=glm-ocr"))
        expect(page.locator("#ocr-model")).to_have_value("glm-ocr")
        page.goto(console.url("/console/models"))
        page.locator("#tool-table tr[data-model=glm-tts]").get_by_role("link").click()
        expect(page.locator("#audio-panel")).to_be_visible()
        expect(page.locator("#speech-model")).to_have_value("glm-tts")
        refused = page.request.post(
            console.url("/console/api/rerank"),  # no CSRF echo: refused
            data={"query": "q", "documents": ["a"]},
        )
        assert refused.status == 403


def test_images_tab_shows_the_image_and_says_what_is_wrong(tools: Console):
    console = tools
    console.allow(BAD_INPUT)
    with console.context() as context:
        context.set_default_timeout(TIMEOUT)
        page, account = paying_page(console, context, "images@example.com")
        for lang in ("zh", "en"):
            open_tab(console, page, "images", lang, "cogview-3")
            expect(page.locator("#images-model")).to_have_value("cogview-3")
            expect(page.locator("#images-unavailable")).to_be_hidden()
            page.fill("#images-prompt", "an orange cat in the snow")
            page.click("#images-run")
            image = page.locator("[data-testid=generated-image]")
            expect(image).to_have_count(1)
            # polled from here: in-page polling needs eval, which the console's CSP refuses
            assert wait_for(
                lambda: (
                    page.evaluate("document.querySelector('[data-testid=generated-image]').naturalWidth")
                    == 64
                ),
                timeout=20,
            )
            console.shot(page, f"playground-images-{lang}")
        rows = wait_for(lambda: usage_rows(console.server.services, account_id=account, endpoint="images"))
        assert rows[0].completion_tokens == 1 and rows[0].cost_micro == 250_000  # per image, like the API
        page.fill("#images-prompt", "   ")  # blank: the API refuses it, and the tab says so
        page.click("#images-run")
        said(page, "images-state", "The value of “prompt” is not valid.")
        expect(page.locator("#toast small")).to_contain_text("1214")
        with no_image_models(console):
            open_tab(console, page, "images", "en")
            expect(page.locator("#images-unavailable")).to_be_visible()
            page.fill("#images-prompt", "a cat")
            page.click("#images-run")
            said(page, "images-state", "This server has no image model configured: ask its operator.")
            english_only(page, "images-panel")
            console.shot(page, "playground-images-unconfigured-en")
            open_tab(console, page, "images", "zh")
            page.fill("#images-prompt", "一只猫")
            page.click("#images-run")
            said(page, "images-state", "此服务器尚未配置图像模型，请联系管理员。")
            console.shot(page, "playground-images-unconfigured-zh")


def test_rerank_tab_ranks_documents_with_scores(tools: Console):
    console = tools
    console.allow(BAD_INPUT)
    with console.context() as context:
        context.set_default_timeout(TIMEOUT)
        page, account = paying_page(console, context, "rerank@example.com")
        for lang in ("zh", "en"):
            open_tab(console, page, "rerank", lang)
            page.fill("#rerank-query", "长城有多长")
            page.fill("#rerank-documents", "熊猫爱吃竹子\n长城有多长：长城全长两万多公里\n故宫位于北京")
            page.click("#rerank-run")
            rows = page.locator("#rerank-result tbody tr")
            expect(rows).to_have_count(3)
            expect(rows.first.locator("td").nth(3)).to_have_text("长城有多长：长城全长两万多公里")
            expect(rows.first.locator("td").nth(2)).to_have_text("2")  # its place in the input
            scores = [float(s.split()[0]) for s in rows.locator("td:nth-child(2)").all_inner_texts()]
            assert scores == sorted(scores, reverse=True)
            console.shot(page, f"playground-rerank-{lang}")
        assert wait_for(lambda: usage_rows(console.server.services, account_id=account, model="tool:rerank"))
        page.fill("#rerank-documents", "")  # no documents: the API's 1214, in words
        page.click("#rerank-run")
        said(page, "rerank-state", "The value of “documents” is not valid.")


def test_tokenizer_tab_counts_prompt_tokens(tools: Console):
    console = tools
    with console.context() as context:
        context.set_default_timeout(TIMEOUT)
        page, _ = paying_page(console, context, "tokens@example.com")
        for lang in ("zh", "en"):
            open_tab(console, page, "tokenizer", lang, "glm-4")
            expect(page.locator("#tokenizer-model")).to_have_value("glm-4")
            page.click("#tokenizer-run")  # the example messages, as shipped in the page
            expect(page.locator("#tokenizer-count")).to_have_text(re.compile(r"^[1-9]\d*$"))
            console.shot(page, f"playground-tokenizer-{lang}")
        page.fill("#tokenizer-messages", '[{"role": "user", "content": "hi"')  # not JSON
        page.click("#tokenizer-run")
        said(
            page, "tokenizer-state", "The messages are not a valid JSON array: check the quotes and brackets."
        )


def test_web_search_tab_lists_results_or_says_no_provider(tools: Console):
    console = tools
    console.allow(BAD_INPUT)
    services = console.server.services
    with console.context() as context:
        context.set_default_timeout(TIMEOUT)
        page, account = paying_page(console, context, "search@example.com")
        open_tab(console, page, "search", "en")  # no provider on this server (none ships)
        expect(page.locator("#search-unavailable")).to_be_visible()
        page.fill("#search-query", "Great Wall")
        page.click("#search-run")
        said(page, "search-state", "This server has no web search provider configured: ask its operator.")
        english_only(page, "search-panel")
        console.shot(page, "playground-search-unconfigured-en")
        services.search = SearxNGProvider("http://searx.test", transport=httpx.MockTransport(searx))
        try:
            for lang in ("zh", "en"):
                open_tab(console, page, "search", lang)
                expect(page.locator("#search-unavailable")).to_be_hidden()
                page.fill("#search-query", "长城")
                page.click("#search-run")
                items = page.locator("#search-result li")
                expect(items).to_have_count(2)
                link = items.first.get_by_role("link")
                expect(link).to_have_attribute("href", "https://example.com/great-wall")
                expect(items.nth(1).locator("a")).to_have_count(0)  # a javascript: link stays text
                console.shot(page, f"playground-search-{lang}")
            assert wait_for(lambda: usage_rows(services, account_id=account, model="tool:web_search"))
        finally:
            services.search = None


def test_ocr_tab_renders_markdown_tables_and_blocks(tools: Console):
    console = tools
    console.allow(BAD_INPUT)
    page_png = png(table_page())
    with console.context() as context:
        context.set_default_timeout(TIMEOUT)
        page, account = paying_page(console, context, "ocr@example.com")
        for lang in ("zh", "en"):
            open_tab(console, page, "ocr", lang)
            page.set_input_files(
                "#ocr-file", files=[{"name": "sales.png", "mimeType": "image/png", "buffer": page_png}]
            )
            page.click("#ocr-run")
            table = page.locator("#ocr-markdown table")
            expect(table).to_have_count(1)  # the ruled table, rendered as a table (no HTML from the text)
            expect(table.locator("tbody tr")).to_have_count(3)
            expect(table.locator("thead")).to_contain_text("City")
            expect(page.locator("#ocr-blocks tbody")).to_contain_text("table")
            console.shot(page, f"playground-ocr-{lang}")
        assert wait_for(lambda: usage_rows(console.server.services, account_id=account, model="tool:ocr"))
        page.set_input_files(
            "#ocr-file",
            files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"just some text, not an image"}],
        )
        page.click("#ocr-run")
        said(page, "ocr-state", "The value of “file” is not valid.")  # not an image: the API's 1214
        expect(page.locator("#toast small")).to_contain_text("1214")


def test_speech_plays_and_transcription_shows_text(tools: Console):
    console = tools
    console.allow(BAD_INPUT)
    audio = console.server.services.tools.audio
    previous = audio._asr
    audio._asr = UpstreamToolClient(
        "http://asr.test", "whisper-1", None, 10, transport=httpx.MockTransport(asr_upstream)
    )
    try:
        with console.context() as context:
            context.set_default_timeout(TIMEOUT)
            page, account = paying_page(console, context, "speech@example.com")
            for lang, text in (("zh", "你好，欢迎使用开放平台。"), ("en", "Hello, welcome to the platform.")):
                open_tab(console, page, "audio", lang)
                page.fill("#speech-input", text)
                page.click("#speech-run")
                player = page.locator("[data-testid=speech-audio]")
                expect(player).to_have_attribute("src", re.compile(r"^blob:"))
                assert wait_for(
                    lambda: page.evaluate(
                        "document.querySelector('[data-testid=speech-audio]').duration > 0.5"
                    ),
                    timeout=20,
                )
                page.set_input_files(
                    "#transcription-file",
                    files=[{"name": "hello.wav", "mimeType": "audio/wav", "buffer": tone_wav()}],
                )
                page.click("#transcription-run")
                expect(page.locator("#transcription-text")).to_have_text("hello from the playground")
                console.shot(page, f"playground-audio-{lang}")
            assert wait_for(
                lambda: usage_rows(console.server.services, account_id=account, model="tool:audio_speech")
            )
            assert wait_for(
                lambda: usage_rows(
                    console.server.services, account_id=account, model="tool:audio_transcriptions"
                )
            )
            page.fill("#speech-input", "")  # nothing to say: the API's 1214, in words
            page.click("#speech-run")
            said(page, "speech-state", "The value of “input text” is not valid.")
    finally:
        audio._asr = previous
