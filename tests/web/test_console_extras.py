"""No dead ends and human words, in Chromium: "Try" on an embedding model opens the
embeddings tab (and it embeds), the playground renders markdown and code without running any
HTML from the model, account settings (tier, limits, password), the English UI without Chinese
pack names, and dark mode following the system. Screenshots in both languages."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.accounts.conftest import PASSWORD
from tests.web.conftest import ADMIN_EMAIL, Console

pytestmark = pytest.mark.slow
CJK = re.compile(r"[\u4e00-\u9fff]")
TIMEOUT = 60_000

ANSWER = (
    "## Plan\n\nHere is **bold**, *italic* and `inline` code:\n\n"
    "1. first\n2. second\n\n- a [link](https://example.com/docs)\n"
    '- <img src=x onerror="window.__xss=1">\n\n'
    '```python\ndef add(a, b):\n    # sum\n    return a + b  "<script>window.__xss=2</script>"\n```\n'
    "<script>window.__xss=3</script>"
)


def sse(text: str) -> str:
    chunks = [text[i : i + 40] for i in range(0, len(text), 40)]
    events = [
        {
            "id": "x",
            "created": 0,
            "model": "glm-4",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": c}}],
        }
        for c in chunks
    ]
    events.append(
        {
            "id": "x",
            "created": 0,
            "model": "glm-4",
            "choices": [{"index": 0, "finish_reason": "stop", "delta": {}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 50, "total_tokens": 55},
        }
    )
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"


def test_try_on_an_embedding_model_opens_the_embeddings_tab(clean_console: Console):
    console = clean_console
    with console.context() as context:
        context.set_default_timeout(TIMEOUT)
        page = console.signed_in_page(context, "vectors@example.com", "Vectors")
        page.goto(console.url("/console/models?lang=en"))
        row = page.locator("#embedding-table tbody tr").first
        expect(row.get_by_role("link", name="Try")).to_be_visible()
        expect(page.locator("#model-table tbody")).not_to_contain_text("embedding-2")  # chat only
        console.shot(page, "models-by-kind-en")
        row.get_by_role("link", name="Try").click()
        expect(page).to_have_url(re.compile(r"mode=embeddings"))
        expect(page.locator("#embeddings-panel")).to_be_visible()
        expect(page.locator("#chat-panel")).to_be_hidden()
        page.fill("#embed-input", "How long is the Great Wall?\nThe Great Wall is very long.")
        page.click("#embed-run")
        expect(page.locator("#embed-result tbody tr")).to_have_count(2)
        expect(page.locator("#embed-similarity tbody tr")).to_have_count(2)
        assert page.locator("#embed-similarity tbody tr").first.locator("td").first.inner_text() == "1.000"
        console.shot(page, "playground-embeddings-en")
        page.goto(console.url("/console/playground?lang=zh"))  # the chat tab offers chat models only
        expect(page.locator("#model option")).not_to_have_count(0)
        options = page.locator("#model option").all_inner_texts()
        assert options and not any("embedding" in o for o in options)
        page.goto(console.url("/console/playground?mode=embeddings&model=embedding-2"))
        expect(page.locator("#embed-model")).to_have_value("embedding-2")
        console.shot(page, "playground-embeddings-zh")
        page.goto(console.url("/console/models"))
        console.shot(page, "models-by-kind-zh")


def test_playground_renders_markdown_and_runs_no_html_from_the_model(clean_console: Console):
    console = clean_console
    with console.context() as context:
        context.set_default_timeout(TIMEOUT)
        page = console.signed_in_page(context, "markdown@example.com", "Markdown")
        page.route(
            "**/console/api/chat/completions",
            lambda route: route.fulfill(
                status=200, headers={"content-type": "text/event-stream"}, body=sse(ANSWER)
            ),
        )
        for lang in ("zh", "en"):
            page.goto(console.url(f"/console/playground?lang={lang}"))
            page.fill("#prompt", "show me markdown")
            page.click("#send")
            expect(page.locator("#messages")).to_have_attribute("data-state", "done")
            body = page.locator(".msg.assistant .body").last
            expect(body.locator("h4")).to_have_text("Plan")
            expect(body.locator("strong")).to_have_text("bold")
            expect(body.locator("ol li")).to_have_count(2)
            link = body.locator("a[href='https://example.com/docs']")
            expect(link).to_have_attribute("rel", re.compile("noopener"))
            expect(body.locator(".md-code code[data-lang=python] .tok-keyword").first).to_have_text("def")
            expect(body.locator(".md-code .copy-code")).to_be_visible()
            assert body.locator("img, script").count() == 0  # shown as text, never as elements
            expect(body).to_contain_text('<img src=x onerror="window.__xss=1">')
            assert page.evaluate("window.__xss === undefined")
            console.shot(page, f"playground-markdown-{lang}")


def test_account_settings_and_the_english_ui_and_dark_mode(clean_console: Console):
    console = clean_console
    with console.context() as context:
        context.set_default_timeout(TIMEOUT)
        console.allow("status of 401")
        page = context.new_page()  # a wrong password, in words, in both languages
        for lang, sentence in (("en", "Wrong sign-in or password."), ("zh", "账号或密码不正确。")):
            page.goto(console.url(f"/console/login?lang={lang}"))
            page.fill("#signin-form [name=login]", ADMIN_EMAIL)
            page.fill("#signin-form [name=password]", "Wrong-password-9")
            page.click("#signin-form [type=submit]")
            expect(page.locator("#auth-error span")).to_have_text(sentence)
            expect(page.locator("#auth-error small")).to_contain_text("1000")
            console.shot(page, f"login-wrong-password-{lang}")
        page.close()
        page = console.signed_in_page(context, "settings@example.com", "Settings")
        page.goto(console.url("/console/account"))
        expect(page.locator("[data-testid=tier]")).to_have_text("V0")
        expect(page.locator("#limit-rpm")).not_to_have_text("—")
        console.allow("status of 400")
        page.fill("#password-form [name=old_password]", "Not-the-password-1")
        page.fill("#password-form [name=new_password]", "Brand-new-pass-2")
        page.click("#password-form [type=submit]")
        expect(page.locator("#toast span")).to_have_text("“当前密码”的值不正确。")
        expect(page.locator("#toast small")).to_contain_text("1214")
        expect(page).to_have_url(re.compile("/console/account"))  # still signed in
        console.shot(page, "account-settings-zh")
        page.goto(console.url("/console/account?lang=en"))
        expect(page.locator("h1")).to_have_text("Account settings")
        console.shot(page, "account-settings-en")

        page.goto(console.url("/console/finance?lang=en"))  # pack and offer names in English
        expect(page.locator("#offer-list .offer").first).to_be_visible()
        assert not CJK.search(page.locator("#offer-list").inner_text())
        expect(page.locator(".offer").first).to_contain_text("resource pack")
        console.allow("status of 429")
        page.locator(".offer").first.get_by_role("button").click()  # ¥0: not "in arrears"
        expect(page.locator("#toast span")).to_have_text("Not enough balance: top up or buy a pack first.")
        expect(page.locator("#toast small")).to_contain_text("code 1113")
        console.shot(page, "finance-no-money-en")
        page.goto(console.url("/console/overview?lang=en"))
        expect(page.locator("#packs tbody tr").first).to_be_visible()
        assert not CJK.search(page.locator("#packs").inner_text()), page.locator("#packs").inner_text()

        page.goto(console.url("/console/account?lang=zh"))
        page.fill("#password-form [name=old_password]", PASSWORD)
        page.fill("#password-form [name=new_password]", "Brand-new-pass-2")
        page.click("#password-form [type=submit]")
        expect(page.locator("#toast")).to_have_text("密码已修改，请用新密码重新登录。")
        page.wait_for_url(re.compile(r"/console/login"))
        console.sign_in(page, "settings@example.com", "Brand-new-pass-2")

    with console.browser.new_context(color_scheme="dark", viewport={"width": 1280, "height": 860}) as dark:
        dark.set_default_timeout(TIMEOUT)
        page = dark.new_page()
        console.sign_in(page, "settings@example.com", "Brand-new-pass-2")
        background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        assert background == "rgb(15, 20, 28)", background
        console.shot(page, "dark-overview-zh")
        page.goto(console.url("/console/transactions?lang=en"))
        console.shot(page, "dark-transactions-en")
