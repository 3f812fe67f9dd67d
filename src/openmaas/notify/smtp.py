"""Email through an SMTP server (STARTTLS and login when configured)."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from openmaas.config import NotifyConfig
from openmaas.errors import DeliveryFailed
from openmaas.notify.base import OutgoingMessage

log = logging.getLogger(__name__)


class SmtpNotifier:
    def __init__(self, config: NotifyConfig) -> None:
        self._config = config

    def send(self, message: OutgoingMessage) -> None:
        try:
            with smtplib.SMTP(
                self._config.smtp_host, self._config.smtp_port, timeout=self._config.timeout_seconds
            ) as smtp:
                self._start(smtp)
                # exactly one envelope recipient, whatever the To: header parses into
                smtp.send_message(self._email(message), to_addrs=[message.target])
        except (smtplib.SMTPException, OSError) as exc:
            log.warning("SMTP delivery of a %s message failed: %s", message.kind, exc)
            raise DeliveryFailed(
                "邮件发送失败，请稍后重试 (the email could not be sent; try again later)"
            ) from exc

    def _start(self, smtp: smtplib.SMTP) -> None:
        if self._config.smtp_starttls:
            smtp.starttls()
        if self._config.smtp_user:
            smtp.login(self._config.smtp_user, self._config.smtp_password or "")

    def _email(self, message: OutgoingMessage) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self._config.smtp_from
        email["To"] = message.target
        email["Subject"] = message.subject
        email.set_content(message.body)
        return email
