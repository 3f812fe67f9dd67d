"""Builds the notifier that `settings.notify` describes."""

from __future__ import annotations

import logging

from openmaas.config import NotifyConfig
from openmaas.notify.base import Notifier
from openmaas.notify.log import LogNotifier
from openmaas.notify.router import ChannelRouter
from openmaas.notify.smtp import SmtpNotifier
from openmaas.notify.webhook import WebhookNotifier

log = logging.getLogger(__name__)


def build_backend(name: str, config: NotifyConfig, production: bool = False) -> Notifier:
    if name == "smtp":
        return SmtpNotifier(config)
    if name == "webhook":
        return WebhookNotifier(config.webhook_url or "", config.webhook_token, config.timeout_seconds)
    return LogNotifier(redact=production)


def build_notifier(config: NotifyConfig, environment: str) -> ChannelRouter:
    production = environment == "production"
    if production and "log" in (config.email_backend, config.sms_backend):
        log.warning(
            "notify: the log backend withholds message bodies (verification codes) in "
            "production, so nobody can register that way; configure smtp or webhook"
        )
    return ChannelRouter(
        {
            "email": build_backend(config.email_backend, config, production),
            "phone": build_backend(config.sms_backend, config, production),
        }
    )
