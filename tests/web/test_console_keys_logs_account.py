"""Request detail and replay, key limits and history, and account recovery, in Chromium on the
real model: a logged request opens its detail (tokens, cost, latency, status, kept bodies) and
replays in the playground; keys take a budget, RPM and expiry (bad values get a sentence in
the UI language and change nothing) and revoked keys stay listed; other sessions are signed
out, a new email is confirmed by a code, a forgotten password is reset by one. Screenshots in
both languages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from openmaas.store.tables import VerificationCode
from tests.web.conftest import Console
from tests.web.test_console_e2e import MEMO

pytestmark = pytest.mark.slow
TIMEOUT = 60_000


def beijing_day(days_ahead: int) -> str:
    return (datetime.now(UTC) + timedelta(hours=8, days=days_ahead)).date().isoformat()


def age_codes(console: Console) -> None:
    """One code a minute per address: earlier codes are made older so the next can be sent."""
    with console.server.services.db.session() as session:
        earlier = datetime.now(UTC) - timedelta(minutes=5)
        session.execute(sa.update(VerificationCode).values(created_at=earlier))


def first_log_row(page: Page, console: Console):
    rows = page.locator("#log-table tbody tr.clickable")
    for _ in range(30):  # usage rows are written off the request path
        if rows.count():
            return rows.first
        page.wait_for_timeout(500)
        page.goto(console.url("/console/requests"))
    return rows.first


def open_detail_with_bodies(page, console: Console) -> None:
    """The first row's detail, once its bodies are there: they are written just after the
    answer went out, so a detail opened at once (a loaded machine) may not have them yet."""
    for _ in range(40):
        first_log_row(page, console).click()
        expect(page.locator("#log-detail")).to_be_visible()
        if page.locator("#log-bodies").is_visible():
            return
        page.wait_for_timeout(500)


def test_request_detail_shows_the_request_and_replays_it(clean_console: Console):
    console = clean_console
    with console.context() as context:
        context.set_default_timeout(TIMEOUT)
        page = console.signed_in_page(context, "detail-ui@example.com", "Detail")
        page.goto(console.url("/console/account?lang=zh"))
        bodies = page.locator("#bodies-form")
        console.allow("status of 400")
        bodies.locator("[name=store_bodies]").check()
        bodies.locator("[name=body_retention_days]").fill("0")
        bodies.locator("[type=submit]").click()
        expect(page.locator("#toast span")).to_have_text("“保存天数”的值不正确。")
        bodies.locator("[name=body_retention_days]").fill("3")
        bodies.locator("[type=submit]").click()
        expect(page.locator("#toast span")).to_have_text("已保存")

        page.goto(console.url("/console/playground"))
        page.fill("#settings [name=system]", "Answer in one word.")
        page.fill("#settings [name=max_tokens]", "8")
        page.fill("#prompt", "Name a colour.")
        page.click("#send")
        expect(page.locator("#messages")).to_have_attribute("data-state", "done", timeout=120_000)

        page.goto(console.url("/console/requests"))
        open_detail_with_bodies(page, console)
        detail = page.locator("#log-detail")
        expect(detail).to_be_visible()
        expect(page.locator("#log-facts")).to_contain_text("输入 tokens")
        expect(page.locator("#log-facts")).to_contain_text("其中缓存命中")
        expect(page.locator("#log-facts")).to_contain_text("¥")
        expect(page.locator("#log-request-body")).to_contain_text("Name a colour.")
        expect(page.locator("#log-response-body")).to_contain_text("assistant")
        expect(page.locator("#log-retrieval")).to_contain_text("没有检索知识库")
        console.shot(page, "request-detail-zh")
        usage_id = page.locator("#log-table tbody tr.clickable").first.get_attribute("data-usage-id")

        page.click("#log-replay")
        expect(page).to_have_url(re.compile(r"/console/playground\?replay=1"))
        expect(page.locator("#prompt")).to_have_value("Name a colour.")
        expect(page.locator("#settings [name=system]")).to_have_value("Answer in one word.")
        console.shot(page, "playground-replay-zh")

        page.goto(console.url(f"/console/requests?lang=en&id={usage_id}"))
        expect(page.locator("#log-detail")).to_be_visible()
        expect(page.locator("#log-facts")).to_contain_text("Input tokens")
        expect(page.locator("#log-bodies-note")).to_contain_text("Kept until")
        console.shot(page, "request-detail-en")
        console.allow("status of 404")
        page.goto(console.url("/console/requests?id=999999"))
        expect(page.locator("#toast span")).to_contain_text("Not found")
        expect(page.locator("#log-detail")).to_be_hidden()


def test_key_limits_are_set_checked_edited_and_revoked_keys_stay_listed(clean_console: Console):
    console = clean_console
    with console.context() as context:
        context.set_default_timeout(TIMEOUT)
        page = console.signed_in_page(context, "keys-ui@example.com", "Keys")
        page.goto(console.url("/console/keys?lang=zh"))
        form = page.locator("#create-key")
        form.locator("[name=name]").fill("capped")
        form.locator("summary").click()
        console.allow("status of 400")
        form.locator("[name=monthly_budget]").fill("-5")
        form.locator("[type=submit]").click()
        expect(page.locator("#toast span")).to_have_text("“每月预算”的值不正确。")
        expect(page.locator("#toast small")).to_contain_text("1214")
        form.locator("[name=monthly_budget]").fill("12.5")
        form.locator("[name=expires_on]").fill(beijing_day(-3))
        form.locator("[type=submit]").click()
        expect(page.locator("#toast span")).to_have_text("“有效期”的值不正确。")
        expect(page.locator("#key-table tbody")).to_contain_text("还没有密钥")  # nothing made
        until = beijing_day(30)
        form.locator("[name=expires_on]").fill(until)
        form.locator("[name=rpm_limit]").fill("60")
        form.locator("[type=submit]").click()
        expect(page.locator("[data-testid=new-secret]")).to_be_visible()
        row = page.locator("#key-table tbody tr").first
        expect(row.locator(".limits-cell")).to_have_text(f"每月 ¥12.50 · 60 RPM · 至 {until}")
        console.shot(page, "keys-limits-zh")

        row.get_by_role("button", name="限额").click()
        limits = page.locator("#limits-form")
        expect(limits).to_be_visible()
        expect(limits.locator("[name=monthly_budget]")).to_have_value("12.5")
        limits.locator("[name=rpm_limit]").fill("0")
        limits.locator("[type=submit]").click()
        expect(page.locator("#toast span")).to_have_text("“每分钟请求数”的值不正确。")
        limits.locator("[name=rpm_limit]").fill("30")
        limits.locator("[name=tpm_limit]").fill("5000")
        limits.locator("[type=submit]").click()
        expect(row.locator(".limits-cell")).to_have_text(f"每月 ¥12.50 · 30 RPM · 5,000 TPM · 至 {until}")

        page.goto(console.url("/console/keys?lang=en"))
        expect(page.locator("#revoked-table tbody")).to_contain_text("No revoked keys")
        page.locator("#key-table tbody tr").first.get_by_role("button", name="Delete").click()
        expect(page.locator("#key-table tbody")).to_contain_text("No keys yet")
        expect(page.locator("#revoked-table tbody tr")).to_have_count(1)
        expect(page.locator("#revoked-table tbody")).to_contain_text("capped")
        console.shot(page, "keys-history-en")


def test_sessions_contact_and_forgotten_password(clean_console: Console):
    console = clean_console
    email = "recover-ui@example.com"
    with console.context() as first, console.context() as second:
        first.set_default_timeout(TIMEOUT)
        second.set_default_timeout(TIMEOUT)
        page = console.signed_in_page(first, email, "Recover")
        other = second.new_page()
        console.sign_in(other, email)
        page.goto(console.url("/console/account?lang=en"))
        expect(page.locator("[data-testid=sessions-count]")).to_have_text(
            "2 sessions signed in, this one included."
        )
        console.shot(page, "account-sessions-en")
        page.click("#sign-out-others")
        expect(page.locator("#toast span")).to_have_text("Signed out 1 other sessions.")
        expect(page.locator("[data-testid=sessions-count]")).to_contain_text("1 sessions")
        other.goto(console.url("/console/keys"))
        expect(other).to_have_url(re.compile(r"/console/login"))  # ended server-side

        page.goto(console.url("/console/account?lang=zh"))
        contact = page.locator("#contact-form")
        console.allow("status of 400")
        contact.locator("[name=target]").fill("root@example.com")  # another account's address
        page.click("#contact-send")
        expect(page.locator("#toast span")).to_have_text("“邮箱或手机号”的值不正确。")
        contact.locator("[name=target]").fill("recovered@example.com")
        page.click("#contact-send")
        expect(page.locator("#toast span")).to_have_text("验证码已发送到 recovered@example.com")
        contact.locator("[name=code]").fill(console.notifier.last_code("recovered@example.com"))
        contact.locator("[type=submit]").click()
        expect(page.locator("#toast span")).to_have_text("已更换。")
        expect(page.locator("#acct-email")).to_have_text("recovered@example.com")
        console.shot(page, "account-contact-zh")

    age_codes(console)
    with console.context() as context:
        context.set_default_timeout(TIMEOUT)
        page = context.new_page()
        page.goto(console.url("/console/login?lang=en"))
        page.click("#forgot-link")
        reset = page.locator("#reset-form")
        reset.locator("[name=target]").fill("recovered@example.com")
        page.click("#reset-send")
        expect(page.locator("#auth-note")).to_have_text(
            "If this address has an account, a code is on its way."
        )
        console.allow("status of 400")
        reset.locator("[name=code]").fill("000000")
        reset.locator("[name=new_password]").fill("Recovered-pass-7")
        reset.locator("[type=submit]").click()
        expect(page.locator("#auth-error span")).to_have_text("The value of “code” is not valid.")
        console.shot(page, "login-reset-en")
        reset.locator("[name=code]").fill(console.notifier.last_code("recovered@example.com"))
        reset.locator("[type=submit]").click()
        expect(page.locator("#auth-note")).to_have_text("Password reset: sign in with the new one.")
        console.sign_in(page, "recovered@example.com", "Recovered-pass-7")

    with console.context() as context:
        page = context.new_page()
        page.goto(console.url("/console/login?lang=zh"))
        page.click("#forgot-link")
        expect(page.locator("#reset-form h2")).to_have_text("重置密码")
        console.shot(page, "login-reset-zh")


def test_a_request_that_searched_a_knowledge_base_shows_its_trace(clean_console: Console):
    console = clean_console
    with console.context() as context:
        context.set_default_timeout(TIMEOUT)
        page = console.signed_in_page(context, "trace-ui@example.com", "Trace")
        page.goto(console.url("/console/knowledge?lang=zh"))
        page.fill("#kb-create [name=name]", "memos")
        page.click("#kb-create [type=submit]")
        expect(page.locator("[data-testid=kb-name]")).to_have_text("memos")
        page.set_input_files(
            "[data-testid=upload-input]",
            files=[{"name": "memo.txt", "mimeType": "text/plain", "buffer": MEMO.encode()}],
        )
        page.click("#upload-form [type=submit]")
        memo_row = page.locator("#doc-table tbody tr", has_text="memo.txt")
        expect(memo_row.locator("[data-testid=doc-status]")).to_have_text("已索引", timeout=60_000)
        page.goto(console.url("/console/playground"))
        page.select_option("#knowledge", label="memos")
        page.fill("#settings [name=max_tokens]", "8")
        page.fill("#prompt", "What is the launch code for Project Marigold?")
        page.click("#send")
        expect(page.locator("#messages")).to_have_attribute("data-state", "done", timeout=120_000)

        page.goto(console.url("/console/requests?lang=en"))
        chat_row = page.locator("#log-table tbody tr.clickable[data-model]", has_text="chat")
        for _ in range(30):
            if chat_row.count():
                break
            page.wait_for_timeout(500)
            page.reload()
        chat_row.first.click()
        trace = page.locator("#log-retrieval [data-testid=trace]")
        expect(trace).to_have_count(1)
        expect(trace).to_contain_text("query: What is the launch code for Project Marigold?")
        expect(trace.locator(".passages li").first).to_contain_text("memo.txt")
        expect(trace.locator(".passages li").first).to_contain_text("ZEBRA-7731")
        expect(page.locator("#log-replay")).to_be_disabled()  # bodies are not kept for this account
        expect(page.locator("#log-bodies-note")).to_contain_text("off by default")
        console.shot(page, "request-detail-trace-en")
        page.goto(console.url("/console/requests?lang=zh"))
        page.locator("#log-table tbody tr.clickable", has_text="chat").first.click()
        expect(page.locator("#log-retrieval [data-testid=trace]")).to_contain_text("问题")
        console.shot(page, "request-detail-trace-zh")
