"""Notifier backends (log, webhook, SMTP), the channel router, and the dispatcher that delivers
pending balance alerts."""

from __future__ import annotations

import email
import logging
import socketserver
import threading
from collections.abc import Iterator
from email import policy

import httpx
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from openmaas.auth.accounts import create_account
from openmaas.config import NotifyConfig
from openmaas.errors import DeliveryFailed
from openmaas.notify.base import OutgoingMessage
from openmaas.notify.dispatcher import NotificationDispatcher
from openmaas.notify.factory import build_notifier
from openmaas.notify.log import LogNotifier
from openmaas.notify.smtp import SmtpNotifier
from openmaas.notify.webhook import WebhookNotifier
from openmaas.store.tables import Notification, VerificationCode
from tests.accounts.conftest import RecordingNotifier, account_settings, open_platform
from tests.sdk._support import wait_for

MESSAGE = OutgoingMessage(
    channel="phone", target="13800138000", subject="验证码", body="code 123456", kind="verification_code"
)


class FailingNotifier:
    """Test double implementing the Notifier protocol: every send fails."""

    def send(self, message: OutgoingMessage) -> None:
        raise DeliveryFailed("gateway down")


# --- backends ---------------------------------------------------------------------------------
def test_log_backend_writes_the_message_to_the_server_log(caplog):
    with caplog.at_level(logging.WARNING, logger="openmaas.notify"):
        LogNotifier().send(MESSAGE)
    assert "13800138000" in caplog.text and "code 123456" in caplog.text


def test_webhook_posts_json_with_the_bearer_token():
    seen: list[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    WebhookNotifier("http://sms.example/send", "tok", transport=httpx.MockTransport(gateway)).send(MESSAGE)
    assert seen[0].headers["authorization"] == "Bearer tok"
    assert httpx.Response(200, content=seen[0].content).json() == {
        "channel": "phone",
        "to": "13800138000",
        "subject": "验证码",
        "text": "code 123456",
        "kind": "verification_code",
    }


def test_webhook_error_status_is_delivery_failed():
    failing = httpx.MockTransport(lambda request: httpx.Response(503))
    with pytest.raises(DeliveryFailed):
        WebhookNotifier("http://sms.example/send", transport=failing).send(MESSAGE)


class SmtpSink(socketserver.StreamRequestHandler):
    """Just enough of an SMTP server to receive one message per DATA."""

    def reply(self, text: str) -> None:
        self.wfile.write(f"{text}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 sink ESMTP")
        lines: list[str] | None = None
        for raw in self.rfile:
            line = raw.decode().rstrip("\r\n")
            if lines is not None:
                if line == ".":
                    self.server.received.append("\r\n".join(lines))
                    lines = None
                    self.reply("250 queued")
                else:
                    lines.append(line[1:] if line.startswith("..") else line)
            elif line.upper().startswith("DATA"):
                lines = []
                self.reply("354 go ahead")
            elif line.upper().startswith("QUIT"):
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


@pytest.fixture
def smtp_sink() -> Iterator[socketserver.ThreadingTCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SmtpSink)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_smtp_backend_sends_a_utf8_email(smtp_sink):
    config = NotifyConfig(
        email_backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=smtp_sink.server_address[1],
        smtp_starttls=False,
        smtp_from="noreply@openmaas.test",
    )
    SmtpNotifier(config).send(
        OutgoingMessage(
            "email", "ann@example.com", "OpenMaaS 验证码", "您的验证码是 654321", "verification_code"
        )
    )
    received = email.message_from_string(smtp_sink.received[0], policy=policy.default)
    assert (received["To"], received["From"], received["Subject"]) == (
        "ann@example.com",
        "noreply@openmaas.test",
        "OpenMaaS 验证码",
    )
    assert "654321" in received.get_content()


def test_smtp_unreachable_is_delivery_failed():
    config = NotifyConfig(email_backend="smtp", smtp_host="127.0.0.1", smtp_port=1, timeout_seconds=2)
    with pytest.raises(DeliveryFailed):
        SmtpNotifier(config).send(MESSAGE)


def test_backends_are_chosen_per_channel_and_webhook_needs_a_url():
    with pytest.raises(ValidationError):
        NotifyConfig(sms_backend="webhook")
    router = build_notifier(NotifyConfig(sms_backend="webhook", webhook_url="http://sms.example"), "test")
    recorder = RecordingNotifier()
    router.route("phone", recorder)
    router.send(MESSAGE)
    assert recorder.messages == [MESSAGE]


# --- codes through the API when delivery fails -------------------------------------------------
def test_a_code_that_cannot_be_sent_is_500_and_uses_up_no_limit(platform):
    platform.services.accounts.notifier.route("email", FailingNotifier())
    response = platform.send_code("lost@example.com")
    assert response.status_code == 500 and response.json()["error"]["code"] == "500"
    with platform.services.db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(VerificationCode)) == 0
    platform.services.accounts.notifier.route("email", platform.notifier)
    assert platform.send_code("lost@example.com").status_code == 200


# --- the dispatcher ------------------------------------------------------------------------------
def add_notification(db, email_address: str | None, phone: str | None = None) -> int:
    with db.session() as session:
        account = create_account(session, "n", email=email_address, phone=phone)
        row = Notification(account_id=account.id, kind="balance_alert", message="余额不足 below 10 元")
        session.add(row)
        session.flush()
        return row.id


def delivered_at(db, notification_id: int):
    with db.session() as session:
        return session.get(Notification, notification_id).delivered_at


def test_dispatcher_delivers_each_pending_notification_once(db):
    recorder = RecordingNotifier()
    by_email = add_notification(db, "al@example.com")
    by_phone = add_notification(db, None, "13900139000")
    dispatcher = NotificationDispatcher(db, recorder)
    assert dispatcher.deliver_pending() == 2 and dispatcher.deliver_pending() == 0
    assert [(m.channel, m.target, m.kind) for m in recorder.messages] == [
        ("email", "al@example.com", "balance_alert"),
        ("phone", "13900139000", "balance_alert"),
    ]
    assert "余额不足" in recorder.messages[0].body and "balance alert" in recorder.messages[0].subject
    assert delivered_at(db, by_email) is not None and delivered_at(db, by_phone) is not None


def test_dispatcher_retries_failed_sends_and_skips_accounts_without_address(db):
    failing = add_notification(db, "retry@example.com")
    no_address = add_notification(db, None)
    assert NotificationDispatcher(db, FailingNotifier()).deliver_pending() == 0
    assert delivered_at(db, failing) is None and delivered_at(db, no_address) is not None
    recorder = RecordingNotifier()
    assert NotificationDispatcher(db, recorder).deliver_pending() == 1
    assert [m.target for m in recorder.messages] == ["retry@example.com"]


def test_balance_alert_from_billing_reaches_the_notifier(make_settings):
    settings = account_settings(make_settings, notify=NotifyConfig(dispatch_interval_seconds=0.05))
    with open_platform(settings) as platform:
        account = platform.register("low@example.com")
        platform.services.billing.set_alert(account["id"], threshold_micro=10_000_000, pack_tokens=None)
        alert = wait_for(lambda: [m for m in platform.notifier.messages if m.kind == "balance_alert"])
    assert alert[0].target == "low@example.com"
