"""The console in headless Chromium against a real server on the real 0.5B model: sign up →
key → the playground streams an answer; admin code → top-up → balance; upload → indexed →
retrieval trace; real-name application → admin review; every page on a phone, in both
languages. Screenshots: $OPENMAAS_TEST_ARTIFACTS/screenshots."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from openmaas.web.pages import PAGES
from tests.accounts.conftest import PASSWORD
from tests.sdk._support import wait_for
from tests.web.conftest import ADMIN_EMAIL, LAPTOP, PHONE, Console, artifacts_dir

pytestmark = pytest.mark.slow

ID_NUMBER = "11010519491231002X"
MEMO = (
    "Internal memo. The secret launch code for Project Marigold is ZEBRA-7731. "
    "Project Marigold is led by Dr. Ines Okafor from the Lisbon office. "
    "The cafeteria serves lentil soup on Tuesdays."
)


def stream_answer(page: Page, prompt: str) -> str:
    """Sends `prompt`, proves text arrives while the run is still going, returns the answer."""
    page.fill("#prompt", prompt)
    page.click("#send")
    page.wait_for_function("""() => {
        const box = document.querySelector('#messages');
        const body = box.querySelector('.msg.assistant:last-of-type .body');
        return box.dataset.state === 'running' && body && body.textContent.length > 0;
    }""")  # partial text on screen before the stream ended: it streams as it arrives
    expect(page.locator("#messages")).to_have_attribute("data-state", "done", timeout=60_000)
    return page.locator(".msg.assistant .body").last.inner_text()


def test_sign_up_create_key_and_stream_in_the_playground(clean_console: Console):
    console = clean_console
    with console.context() as context:
        page = context.new_page()
        page.goto(console.url("/console"))
        expect(page).to_have_url(re.compile(r"/console/login\?next=%2Fconsole%2Foverview$"))
        page.click("[data-tab=signup]")
        page.fill("#signup-form [name=target]", "ada@example.com")
        page.click("#send-code")
        expect(page.locator("#send-code")).to_be_disabled()  # the resend countdown runs
        code = wait_for(
            lambda: console.notifier.to("ada@example.com") and console.notifier.last_code("ada@example.com")
        )
        page.fill("#signup-form [name=code]", code)
        page.fill("#signup-form [name=name]", "Ada")
        page.fill("#signup-form [name=password]", PASSWORD)
        console.shot(page, "01-sign-up")
        page.click("#signup-form [type=submit]")
        page.wait_for_url(re.compile(r"/console/overview$"))
        expect(page.locator("#stat-packs")).to_have_text("1,000,000")  # the registration grant
        console.shot(page, "02-overview-new-account")

        page.click("nav >> text=API 密钥")
        page.fill("#create-key [name=name]", "playground")
        page.click("#create-key [type=submit]")
        secret = page.locator("[data-testid=new-secret]")
        expect(secret).to_have_text(re.compile(r"^[\w-]+\.[\w-]+$"))
        api_key = secret.inner_text()
        page.click("#copy-secret")
        expect(page.locator("#toast")).to_have_text("已复制到剪贴板")
        expect(page.locator("#key-table tbody tr")).to_have_count(1)
        expect(page.locator("#key-table tbody")).to_contain_text("从未使用")
        console.shot(page, "03-api-key-created")

        page.click("nav >> text=体验中心")
        expect(page.locator("#model option")).not_to_have_count(0)
        page.fill("#settings [name=system]", "You are a concise assistant.")
        page.fill("#settings [name=max_tokens]", "40")
        page.click("text=调用身份")
        page.fill("[data-testid=api-key]", api_key)
        answer = stream_answer(page, "用一句话介绍长城。")
        assert answer.strip()
        raw = page.locator("#raw-response").text_content()
        assert raw.startswith("data: ") and "data: [DONE]" in raw
        assert '"max_tokens": 40' in page.locator("#raw-request").text_content()
        page.click("[data-tab=code]")
        expect(page.locator("#code")).to_contain_text('ZhipuAI(api_key="YOUR_API_KEY"')
        expect(page.locator("#code")).to_contain_text('"content": "You are a concise assistant."')
        page.select_option("#code-lang", "curl")
        expect(page.locator("#code")).to_contain_text("/api/paas/v4/chat/completions")
        console.shot(page, "04-playground-streamed")

        page.click("nav >> text=API 密钥")  # the key the playground used shows when it was used
        expect(page.locator("#key-table tbody")).not_to_contain_text("从未使用")

        page.click("nav >> text=概览")  # the call shows in this month's usage and its charts
        # usage rows are written in batches (a lease's charges once a second): reload until
        # the month's tokens show (`page.reload()` returns a truthy response: not in an `or`)
        wait_for(lambda: usage_shown(page), timeout=20, interval=0.5)
        expect(page.locator("#chart-models-empty")).to_be_hidden()
        console.shot(page, "05-overview-with-usage")


def test_playground_on_a_phone_with_the_session_shows_a_tool_call(clean_console: Console):
    console = clean_console
    with console.context(PHONE) as context:
        page = console.signed_in_page(context, "grace@example.com", "Grace")
        page.goto(console.url("/console/playground?model=glm-4"))
        expect(page.locator("#model")).to_have_value("glm-4")
        page.click("text=调用身份")  # a wrong key is refused by the API; the page stays signed in
        console.allow("status of 401")
        page.fill("[data-testid=api-key]", "nope.nope")
        page.fill("#prompt", "hi")
        page.click("#send")
        expect(page.locator("#messages")).to_have_attribute("data-state", "error")
        expect(page.locator(".msg.assistant .meta.error")).to_contain_text("1002")
        expect(page).to_have_url(re.compile(r"/console/playground"))
        page.fill("[data-testid=api-key]", "")  # back to the console session
        page.click("#clear")
        page.fill("#settings [name=max_tokens]", "64")
        page.click("text=工具（JSON）")
        page.click("#tools-example")
        expect(page.locator("#tools-state")).to_have_text("1 个工具")
        page.select_option("#settings [name=tool_choice]", "required")
        page.fill("#prompt", "What is the weather in Beijing?")
        page.click("#send")
        expect(page.locator("#messages")).to_have_attribute("data-state", "done", timeout=60_000)
        call = page.locator("[data-testid=tool-call]")
        expect(call).to_contain_text("get_weather")
        assert '"tool_calls"' in page.locator("#raw-response").text_content()
        console.shot(page, "06-playground-phone-tool-call")


def test_admin_code_tops_up_a_user_whose_balance_changes(clean_console: Console):
    console = clean_console
    with console.context() as admin_context:
        admin = admin_context.new_page()
        console.sign_in(admin, ADMIN_EMAIL)
        admin.click("nav >> text=管理后台")
        admin.click("[data-tab=codes]")
        admin.fill("[data-testid=code-amount]", "50")
        admin.click("#code-form [type=submit]")
        codes = admin.locator("[data-testid=codes]")
        expect(codes).not_to_be_empty()
        code = codes.inner_text().strip()
        console.shot(admin, "07-admin-redemption-code")

    with console.context() as context:
        page = console.signed_in_page(context, "lin@example.com", "Lin")
        expect(page.locator("[data-testid=balance]")).to_have_text("¥0.00")
        page.click("nav >> text=财务")
        page.fill("#redeem-form [name=code]", code)
        page.click("#redeem-form [type=submit]")
        expect(page.locator("[data-testid=balance]")).to_have_text("¥50.00")
        expect(page.locator("#recharges tbody")).to_contain_text("兑换码")
        page.locator(".offer", has_text="GLM-4").get_by_role("button").click()  # confirm() accepted
        expect(page.locator("[data-testid=balance]")).to_have_text("¥40.10")
        expect(page.locator("#pack-history tbody")).to_contain_text("GLM-4 资源包")
        href = page.locator("#export-link").get_attribute("href")
        assert href.startswith("/api/platform/billing/export?format=csv&start=")
        with page.expect_download() as download:
            page.click("#export-link")
        assert download.value.suggested_filename.endswith(".csv")
        console.shot(page, "08-finance-after-top-up")
        page.click("nav >> text=概览")
        expect(page.locator("[data-testid=balance]")).to_have_text("¥40.10")
        expect(page.locator("#packs tbody tr")).to_have_count(2)  # the grant and the bought pack
        page.fill("#alert-form [name=threshold_yuan]", "45")  # the balance-alert threshold
        page.click("#alert-form [type=submit]")
        expect(page.locator("#toast")).to_have_text("已保存")
        page.reload()
        expect(page.locator("#alert-form [name=threshold_yuan]")).to_have_value("45.00")


def test_knowledge_upload_is_indexed_and_the_retrieval_test_shows_the_trace(clean_console: Console):
    console = clean_console
    with console.context() as context:
        page = console.signed_in_page(context, "kb@example.com", "KB")
        page.click("nav >> text=知识库")
        hostile = '<img src=x data-x="1">memos'
        page.fill("#kb-create [name=name]", hostile)
        page.fill("#kb-create [name=description]", "internal memos")
        page.click("#kb-create [type=submit]")
        expect(page.locator("[data-testid=kb-name]")).to_have_text(hostile)  # shown as text, not HTML
        assert page.locator("#kb-list img").count() == 0
        page.set_input_files(
            "[data-testid=upload-input]",
            files=[
                {"name": "memo.txt", "mimeType": "text/plain", "buffer": MEMO.encode()},
                {"name": "empty.txt", "mimeType": "text/plain", "buffer": b""},
            ],
        )
        page.click("#upload-form [type=submit]")
        expect(page.locator("[data-testid=upload-progress]")).to_have_count(2)
        memo_row = page.locator("#doc-table tbody tr", has_text="memo.txt")
        expect(memo_row.locator("[data-testid=doc-status]")).to_have_text("已索引", timeout=60_000)
        empty_row = page.locator("#doc-table tbody tr", has_text="empty.txt")
        expect(empty_row.locator("[data-testid=doc-status]")).to_have_text("失败")
        expect(empty_row.locator("td.error")).not_to_be_empty()  # the reason, per document
        expect(page.locator("#kb-meta")).not_to_contain_text(" 0 字")  # counts refreshed once indexed
        console.shot(page, "09-knowledge-indexed")

        page.fill("[data-testid=retrieve-query]", "What is the launch code for Project Marigold?")
        page.click("#retrieve-form [type=submit]")
        expect(page.locator("[data-testid=passages] li").first).to_contain_text("ZEBRA-7731")
        trace = page.locator("[data-testid=trace]")
        expect(trace).to_contain_text('"timings_ms"')
        expect(trace).to_contain_text('"document_name": "memo.txt"')
        expect(page.locator("#trace-summary")).to_contain_text("hybrid")
        console.shot(page, "10-knowledge-retrieval-trace")

        page.click("nav >> text=体验中心")  # the playground answers from the knowledge base
        page.select_option("#knowledge", label=hostile)
        page.locator("#temperature").evaluate(
            "(el) => { el.value = '0.01'; el.dispatchEvent(new Event('input', {bubbles: true})); }"
        )
        page.fill("#settings [name=max_tokens]", "40")
        assert "ZEBRA-7731" in stream_answer(page, "What is the secret launch code for Project Marigold?")
        assert '"type": "retrieval"' in page.locator("#raw-request").text_content()
        console.shot(page, "10b-playground-with-knowledge")


def test_real_name_application_is_reviewed_by_the_admin(clean_console: Console):
    console = clean_console
    with console.context() as context:
        page = console.signed_in_page(context, "zhang@example.com", "张三")
        expect(page.locator("#verify-banner")).to_be_visible()
        page.click("nav >> text=实名认证")
        expect(page.locator("[data-testid=verify-status]")).to_have_text("未认证")
        page.fill("#personal-form [name=real_name]", "张三")
        page.fill("#personal-form [name=id_number]", ID_NUMBER)
        page.click("#personal-form [type=submit]")
        expect(page.locator("[data-testid=verify-status]")).to_have_text("审核中")
        console.shot(page, "11-verification-pending")

        with console.context() as admin_context:
            admin = admin_context.new_page()
            console.sign_in(admin, ADMIN_EMAIL)
            admin.goto(console.url("/console/admin#verifications"))
            row = admin.locator("[data-testid=verification-table] tbody tr", has_text="张三")
            expect(row).to_contain_text("1101")  # masked identifier
            console.shot(admin, "12-admin-verification-review")
            row.get_by_role("button", name="通过").click()
            expect(admin.locator("[data-testid=verification-table] tbody")).not_to_contain_text("张三")

        page.reload()
        expect(page.locator("[data-testid=verify-status]")).to_have_text("已认证")
        expect(page.locator("#apply")).to_be_hidden()
        page.click("#logout")
        page.wait_for_url(re.compile(r"/console/login$"))
        page.goto(console.url("/console/verification"))  # the session is gone
        expect(page).to_have_url(re.compile(r"/console/login\?next="))


def test_every_page_fits_a_phone_and_switches_to_english(clean_console: Console):
    console = clean_console
    with console.context(PHONE) as context:
        page = context.new_page()
        console.sign_in(page, ADMIN_EMAIL)
        for slug in PAGES:
            page.goto(console.url(f"/console/{slug}"))
            page.wait_for_load_state("networkidle")
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"/console/{slug} is {overflow}px wider than a 375px phone"
            console.shot(page, f"phone-{slug}")
        page.click("[data-testid=lang-switch]")
        expect(page.locator("h1")).to_have_text("Admin")
        page.goto(console.url("/console/overview"))  # the choice is remembered in a cookie
        expect(page.locator("h1")).to_have_text("Overview")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        console.shot(page, "phone-overview-en")


PERF_SCRIPT = """() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const resources = performance.getEntriesByType('resource');
    const assets = resources.filter((r) => ['script', 'link', 'css'].includes(r.initiatorType));
    const calls = resources.filter((r) => ['fetch', 'xmlhttprequest'].includes(r.initiatorType));
    const paint = performance.getEntriesByName('first-contentful-paint')[0];
    return {
        html_bytes: nav.decodedBodySize,
        asset_bytes: assets.reduce((sum, r) => sum + r.decodedBodySize, 0),
        assets: assets.map((r) => [new URL(r.name).pathname, r.decodedBodySize]),
        api_calls: calls.length, api_bytes: calls.reduce((sum, r) => sum + r.decodedBodySize, 0),
        first_contentful_paint_ms: paint.startTime,
        dom_content_loaded_ms: nav.domContentLoadedEventEnd,
        load_ms: nav.loadEventEnd,
    };
}"""


FIRST_PAINT_ENTRIES = "performance.getEntriesByName('first-contentful-paint').length"


def test_playground_page_weight_and_first_render(clean_console: Console):
    """Cold loads (fresh browser profile each time) of the playground; median of five runs is
    written to $OPENMAAS_TEST_ARTIFACTS/web-perf.json."""
    console = clean_console
    with console.context() as context:
        console.sign_in(context.new_page(), ADMIN_EMAIL)
        signed_in = context.storage_state()
    runs = []
    for _ in range(5):
        cold = console.browser.new_context(viewport=LAPTOP, storage_state=signed_in)
        page = cold.new_page()
        page.goto(console.url("/console/playground"), wait_until="load")
        # Polled from here: wait_for_function's in-page polling needs eval, which the
        # console's CSP (no 'unsafe-eval') refuses when the entry is not there at once.
        wait_for(lambda page=page: page.evaluate(FIRST_PAINT_ENTRIES))
        runs.append(page.evaluate(PERF_SCRIPT))
        cold.close()
    runs.sort(key=lambda r: r["first_contentful_paint_ms"])
    median = runs[len(runs) // 2]
    median["page_weight_bytes"] = median["html_bytes"] + median["asset_bytes"]
    median["fcp_runs_ms"] = [round(r["first_contentful_paint_ms"], 1) for r in runs]
    path = artifacts_dir() / "web-perf.json"  # other tests add their sections (e.g. "pages")
    kept = {k: v for k, v in (json.loads(path.read_text()) if path.exists() else {}).items() if k == "pages"}
    path.write_text(json.dumps(median | kept, indent=2))
    print(
        f"\nplayground: {median['page_weight_bytes']} bytes HTML+JS+CSS, "
        f"first contentful paint {median['first_contentful_paint_ms']:.0f} ms (median of 5)"
    )
    assert {path for path, _ in median["assets"]} >= {
        "/console/static/console.css",
        "/console/static/js/playground.js",
        "/console/static/js/api.js",
    }
    assert median["page_weight_bytes"] < 100_000  # no framework, no chart library on this page
    assert median["first_contentful_paint_ms"] < 2_000


def usage_shown(page) -> bool:
    page.reload()
    tokens = page.locator("#stat-tokens")
    expect(tokens).not_to_have_text("—")  # this load's usage request has answered
    return tokens.inner_text() != "0"
