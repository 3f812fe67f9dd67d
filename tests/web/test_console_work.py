"""Live lists and the pages for the account's work, in Chromium against a live server on the
fake engine: files (upload, purpose, size, download, delete), batches (status and counts
refreshed without a reload, output download), async results (processing → done without a
reload), assistants and their conversations; a verification approved elsewhere shows without
a reload, and a hidden tab does not poll; the playground folds a thinking model's reasoning,
copies and regenerates per message, highlights code and ends its snippets on the user's turn.
Empty states and bad input in both languages; screenshots in both languages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from playwright.sync_api import Page, expect

from openmaas.auth.keys import issue_key
from openmaas.config import AccountsConfig, ModelConfig, Settings, ThinkingConfig
from tests.accounts.conftest import install_recorder
from tests.conftest import fake_embeddings, fake_models, start_live_server, with_fake_prices
from tests.web.conftest import Console
from tests.web.test_money_console import account_id_of

pytestmark = pytest.mark.slow
TIMEOUT = 30_000
THINKER = "fake-think"
THINKING = "<think>\nLet me think: 6 times 7.\n</think>\n\nThe answer is 42."
CODE_ANSWER = "Here:\n\n```python\ndef add(a, b):\n    return a + b\n```\n"
ID_NUMBER = "11010519491231002X"
BATCH_LINES = b"".join(
    b'{"custom_id": "%d", "method": "POST", "url": "/v4/chat/completions", "body": {"model": "glm-4", '
    b'"max_tokens": 8, "messages": [{"role": "user", "content": "hi %d"}]}}\n' % (i, i)
    for i in (1, 2)
)
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def work_console(tmp_path_factory, browser) -> Iterator[Console]:
    data = tmp_path_factory.mktemp("console-work")
    models = [
        *fake_models(context_window=4096),
        ModelConfig(
            name=THINKER, engine="fake", context_window=4096, max_output_tokens=256, thinking=ThinkingConfig()
        ),
    ]
    settings = with_fake_prices(
        Settings(
            environment="test",
            data_dir=data,
            database_url=f"sqlite:///{data}/db.sqlite",
            models=models,
            embeddings=fake_embeddings(),
            job_poll_seconds=0.05,
            secret_key="test-secret",
            accounts=AccountsConfig(cookie_secure=False, password_hash_profile="CHEAPEST"),
        )
    )
    server = start_live_server(settings)
    console = Console(server, install_recorder(server.services), browser)
    yield console
    server.stop()


@pytest.fixture
def work(work_console) -> Iterator[Console]:
    work_console.problems.clear()
    work_console.allowed.clear()
    yield work_console
    assert work_console.problems == [], work_console.problems


def api_client(console: Console, email: str) -> httpx.Client:
    services = console.server.services
    with services.db.session() as session:
        key = issue_key(session, services.sealer, account_id_of(console, email), "work")
    return httpx.Client(
        base_url=console.server.base_url, timeout=60, headers={"Authorization": f"Bearer {key.api_key}"}
    )


@contextmanager
def slow(engine) -> Iterator[None]:
    """The fake engine at a few tokens a second: work stays in progress long enough to watch."""
    engine.token_delay = 0.25
    try:
        yield
    finally:
        engine.token_delay = 0.0


def english(page: Page) -> None:
    page.goto(page.url.split("?")[0] + "?lang=en")


def no_chinese(page: Page) -> None:
    text = page.locator("main").inner_text()
    assert not CJK.search(text), text


def test_files_and_batches_live_without_reload(work: Console):
    console = work
    console.allow("status of 400")  # the refused upload, on purpose
    with console.context() as context:
        context.set_default_timeout(TIMEOUT)
        page = console.signed_in_page(context, "batcher@example.com", "Batcher")
        page.click("nav >> text=文件管理")
        expect(page.locator("#file-table tbody")).to_contain_text("还没有文件")
        console.shot(page, "files-empty-zh")
        english(page)
        expect(page.locator("#file-table tbody")).to_contain_text("No files yet")
        no_chinese(page)
        console.shot(page, "files-empty-en")

        page.goto(console.url("/console/batches"))
        expect(page.locator("#batch-table tbody")).to_contain_text("No batches yet")
        console.shot(page, "batches-empty-en")
        page.goto(console.url("/console/batches?lang=zh"))
        expect(page.locator("#batch-table tbody")).to_contain_text("还没有批处理")
        console.shot(page, "batches-empty-zh")
        page.goto(console.url("/console/files?lang=en"))
        page.set_input_files(
            "#file-input",
            files=[{"name": "notes.exe", "mimeType": "application/octet-stream", "buffer": b"MZ"}],
        )
        page.click("#file-upload [type=submit]")  # a batch input must be .jsonl: refused, nothing stored
        expect(page.locator("#toast.bad")).to_contain_text("not valid")
        expect(page.locator("#toast.bad")).not_to_contain_text("参数")
        expect(page.locator("#file-table tbody tr")).to_have_count(1)
        expect(page.locator("#file-table tbody")).to_contain_text("No files yet")

        page.set_input_files(
            "#file-input",
            files=[{"name": "questions.jsonl", "mimeType": "application/jsonl", "buffer": BATCH_LINES}],
        )
        page.click("#file-upload [type=submit]")
        row = page.locator("#file-table tbody tr", has_text="questions.jsonl")
        expect(row).to_contain_text(f"{len(BATCH_LINES)} bytes")
        expect(row).to_contain_text("batch")
        console.shot(page, "files-list-en")
        engine = console.server.services.catalog.resolve("glm-4").engine
        with slow(engine):
            row.get_by_role("button", name="Run as batch").click()
            expect(page.locator("#toast")).to_contain_text("Batches page")
            page.click("nav >> text=Batches")
            batch = page.locator("#batch-table tbody tr").first
            expect(batch.locator("[data-testid=batch-status]")).not_to_have_text("Completed")
            console.shot(page, "batches-running-en")
            status = batch.locator("[data-testid=batch-status]")
            expect(status).to_have_text("Completed", timeout=60_000)  # no reload
        expect(batch.locator("[data-testid=batch-counts]")).to_have_text("2 / 0 / 2")
        with page.expect_download() as download:
            batch.get_by_role("link", name="Output").click()
        assert download.value.path().read_text().count("\n") == 2
        console.shot(page, "batches-en")
        page.goto(console.url("/console/batches?lang=zh"))
        expect(batch.locator("[data-testid=batch-status]")).to_have_text("已完成")
        console.shot(page, "batches-zh")

        page.goto(console.url("/console/files"))
        expect(page.locator("#file-table tbody tr")).to_have_count(2)  # the input and the batch output
        with slow(engine):  # a second run, cancelled while it runs
            page.locator("#file-table tbody tr", has_text="questions.jsonl").get_by_role(
                "button", name="作为批处理运行"
            ).click()
            expect(page.locator("#toast")).to_contain_text("查看进度")
            page.goto(console.url("/console/batches"))
            running = page.locator("#batch-table tbody tr").first
            running.get_by_role("button", name="取消").click()  # confirm() accepted
            expect(running.locator("[data-testid=batch-status]")).to_have_text("已取消", timeout=60_000)
            expect(running.get_by_role("button", name="取消")).to_have_count(0)
        page.goto(console.url("/console/files"))
        page.select_option("#file-filter", "batch")
        expect(page.locator("#file-table tbody tr")).to_have_count(1)
        console.shot(page, "files-list-zh")
        uploaded = page.locator("#file-table tbody tr", has_text="questions.jsonl")
        uploaded.get_by_role("button", name="删除").click()
        expect(page.locator("#file-table tbody")).to_contain_text("没有这个用途的文件")


def test_async_results_and_assistants_pages(work: Console):
    console = work
    email = "asyncer@example.com"
    with console.context() as context:
        context.set_default_timeout(TIMEOUT)
        page = console.signed_in_page(context, email, "Asyncer")
        page.click("nav >> text=异步任务")
        expect(page.locator("#async-table tbody")).to_contain_text("还没有异步任务")
        console.shot(page, "async-results-empty-zh")
        page.click("nav >> text=智能体")
        expect(page.locator("#assistant-table tbody")).to_contain_text("还没有智能体")
        console.shot(page, "assistants-empty-zh")
        english(page)
        expect(page.locator("#assistant-table tbody")).to_contain_text("No assistants yet")
        no_chinese(page)
        console.shot(page, "assistants-empty-en")

        page.goto(console.url("/console/async-results"))
        expect(page.locator("#async-table tbody")).to_contain_text("No async tasks yet")
        console.shot(page, "async-results-empty-en")
        engine = console.server.services.catalog.resolve("glm-4").engine
        engine.enqueue("Async answer, told slowly word by word so that the task is seen in progress.")
        with slow(engine), api_client(console, email) as client:
            task = client.post(
                "/api/paas/v4/async/chat/completions",
                json={"model": "glm-4", "messages": [{"role": "user", "content": "hello"}]},
            ).json()
            page.goto(console.url("/console/async-results"))
            row = page.locator(f"#async-table tbody tr[data-task-id='{task['id']}']")
            expect(row.locator("[data-testid=async-status]")).to_have_text("Processing")
            console.shot(page, "async-results-processing-en")
            expect(row.locator("[data-testid=async-status]")).to_have_text("Succeeded")  # no reload
            row.get_by_role("button", name="View result").click()
            expect(page.locator("[data-testid=async-detail]")).to_contain_text("Async answer, told slowly")
            console.shot(page, "async-results-en")
            page.goto(console.url("/console/async-results?lang=zh"))
            expect(row.locator("[data-testid=async-status]")).to_have_text("成功")
            console.shot(page, "async-results-zh")

            made = client.post(
                "/api/paas/v4/assistants",
                json={
                    "name": "客服助手",
                    "model": "glm-4",
                    "description": "answers questions",
                    "instructions": "Be brief.",
                },
            )
            assert made.status_code == 200, made.text
            turn = client.post(
                "/api/paas/v4/assistant",
                json={
                    "assistant_id": made.json()["id"],
                    "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
                },
            )
            assert turn.status_code == 200, turn.text
        page.goto(console.url("/console/assistants"))
        row = page.locator("#assistant-table tbody tr", has_text="客服助手")
        row.get_by_role("button", name="会话").click()
        expect(page.locator("#conversation-table tbody tr")).to_have_count(1)
        expect(page.locator("#conversations-title")).to_have_text("“客服助手”的会话")
        console.shot(page, "assistants-zh")
        english(page)
        page.locator("#assistant-table tbody tr").first.get_by_role("button", name="Conversations").click()
        expect(page.locator("#conversation-table tbody tr")).to_have_count(1)
        console.shot(page, "assistants-en")


def test_verification_updates_without_reload_and_hidden_tabs_do_not_poll(work: Console):
    console = work
    with console.context() as context:
        context.set_default_timeout(TIMEOUT)
        page = console.signed_in_page(context, "waiting@example.com", "王五")
        page.goto(console.url("/console/verification"))
        page.fill("#personal-form [name=real_name]", "王五")
        page.fill("#personal-form [name=id_number]", ID_NUMBER)
        page.click("#personal-form [type=submit]")
        expect(page.locator("[data-testid=verify-status]")).to_have_text("审核中")
        polls: list[str] = []
        page.on("request", lambda r: r.url.endswith("/platform/verification") and polls.append(r.url))
        page.evaluate("""() => {
            Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
            document.dispatchEvent(new Event("visibilitychange"));
        }""")
        page.wait_for_timeout(7_000)  # two polling periods with the tab hidden
        assert polls == [], polls
        services = console.server.services
        pending = [
            a for a in services.accounts.verification.list_applications("pending") if a.subject_name == "王五"
        ]
        services.accounts.verification.approve("admin", pending[0].id)
        page.evaluate("""() => {
            Object.defineProperty(document, "hidden", { configurable: true, get: () => false });
            document.dispatchEvent(new Event("visibilitychange"));
        }""")
        expect(page.locator("[data-testid=verify-status]")).to_have_text("已认证")  # shown again: at once
        expect(page.locator("#apply")).to_be_hidden()
        settled = len(polls)
        page.wait_for_timeout(7_000)  # final: no more polling
        assert len(polls) == settled, polls


def test_playground_thinking_copy_regenerate_and_snippet(work: Console):
    console = work
    engine = console.server.services.catalog.resolve(THINKER).engine
    with console.context() as context:
        context.set_default_timeout(TIMEOUT)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console.server.base_url)
        page = console.signed_in_page(context, "thinker@example.com", "Thinker")
        page.goto(console.url("/console/playground"))
        expect(page.locator("#model option")).not_to_have_count(0)
        page.select_option("#model", THINKER)
        engine.enqueue(THINKING)
        page.fill("#prompt", "What is 6 times 7?")
        page.click("#send")
        expect(page.locator("#messages")).to_have_attribute("data-state", "done")
        answer = page.locator(".msg.assistant").last
        expect(answer.locator(".body")).to_have_text("The answer is 42.")
        thinking = answer.locator("[data-testid=thinking]")
        expect(thinking).to_be_visible()
        assert thinking.get_attribute("open") is None  # folded
        expect(thinking.locator("summary")).to_have_text("思考过程")
        thinking.locator("summary").click()
        expect(thinking.locator(".thinking-text")).to_have_text("Let me think: 6 times 7.")
        console.shot(page, "playground-thinking-zh")

        answer.locator("[data-testid=msg-copy]").click()
        expect(page.locator("#toast")).to_contain_text("已复制")
        assert page.evaluate("navigator.clipboard.readText()") == "The answer is 42."

        page.click("[role=tab][data-tab=code]")
        page.select_option("#code-lang", "curl")
        snippet = page.locator("#code").inner_text()
        assert "What is 6 times 7?" in snippet
        assert "The answer is 42." not in snippet  # ends on the user's turn
        assert snippet.rstrip().endswith("'")

        engine.enqueue("<think>\nAgain.\n</think>\n\n" + CODE_ANSWER)
        answer.locator("[data-testid=msg-regenerate]").click()
        expect(page.locator("#messages")).to_have_attribute("data-state", "done")
        expect(page.locator(".msg.assistant")).to_have_count(1)  # replaced, not added
        expect(page.locator(".msg.assistant .md-code .tok-keyword").first).to_have_text("def")
        sent = page.locator("#raw-request").text_content()
        assert sent.count('"role": "assistant"') == 0 and sent.count('"role": "user"') == 1
        engine.enqueue("Fine.")
        page.fill("#prompt", "And 7 times 8?")
        page.click("#send")
        expect(page.locator("#messages")).to_have_attribute("data-state", "done")
        regenerate = page.locator(".msg.assistant [data-testid=msg-regenerate]:visible")
        expect(regenerate).to_have_count(1)  # on the last answer only
        snippet = page.locator("#code").inner_text()
        assert "And 7 times 8?" in snippet and "Fine." not in snippet and "def add" in snippet
        english(page)
        page.select_option("#model", THINKER)
        engine.enqueue(THINKING)
        page.fill("#prompt", "What is 6 times 7?")
        page.click("#send")
        expect(page.locator("#messages")).to_have_attribute("data-state", "done")
        expect(page.locator("[data-testid=thinking] summary")).to_have_text("Thinking")
        expect(page.locator("[data-testid=msg-regenerate]")).to_have_text("Regenerate")
        console.shot(page, "playground-thinking-en")


@pytest.mark.parametrize(
    ("lang", "question", "method"),
    [("zh", "青石镇的特产是什么？", "embedding"), ("en", "Who keeps the lighthouse on Varnholm?", "keyword")],
)
def test_retrieval_shows_one_relevance_scale_with_a_threshold_mark(work: Console, lang, question, method):
    from tests.knowledge.test_knowledge_api import FACTS, ZH_FACTS

    console = work
    with console.context() as context:
        context.set_default_timeout(TIMEOUT)
        page = console.signed_in_page(context, f"kb-{lang}@example.com", "KB")
        page.goto(console.url(f"/console/knowledge?lang={lang}"))
        page.fill("#kb-create [name=name]", "facts")
        page.click("#kb-create [type=submit]")
        page.set_input_files(
            "[data-testid=upload-input]",
            files=[
                {"name": "facts-en.txt", "mimeType": "text/plain", "buffer": FACTS.encode()},
                {"name": "facts-zh.txt", "mimeType": "text/plain", "buffer": ZH_FACTS.encode()},
            ],
        )
        page.click("#upload-form [type=submit]")
        indexed = page.locator("#doc-table [data-testid=doc-status]", has_text=re.compile("已索引|Indexed"))
        expect(indexed).to_have_count(2)
        page.fill("[data-testid=retrieve-query]", question)
        page.select_option("#retrieve-form [name=recall_method]", method)
        page.click("#retrieve-form [type=submit]")
        passages = page.locator("[data-testid=passages] li")
        expect(passages.first).to_be_visible()
        values = [float(v) for v in passages.evaluate_all("(lis) => lis.map((li) => li.dataset.relevance)")]
        assert values and all(0.0 <= v <= 1.0 for v in values), values
        below = [v < 0.5 for v in values]
        marked = passages.evaluate_all(
            "(lis) => lis.map((li) => Boolean(li.querySelector('[data-testid=below-threshold]')))"
        )
        assert marked == below, (values, marked)
        expect(page.locator("#trace-summary")).to_contain_text("0.5")
        console.shot(page, f"knowledge-relevance-{lang}")
