"""A JSON POST per message, for an SMS gateway (or any relay that takes one)."""

from __future__ import annotations

import logging

import httpx

from openmaas.errors import DeliveryFailed
from openmaas.notify.base import OutgoingMessage

log = logging.getLogger(__name__)


class WebhookNotifier:
    def __init__(
        self,
        url: str,
        token: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = timeout
        self._transport = transport

    def send(self, message: OutgoingMessage) -> None:
        payload = {
            "channel": message.channel,
            "to": message.target,
            "subject": message.subject,
            "text": message.body,
            "kind": message.kind,
        }
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as client:
                response = client.post(self._url, json=payload, headers=self._headers)
                response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("webhook delivery of a %s message failed: %s", message.kind, exc)
            raise DeliveryFailed(
                "消息发送失败，请稍后重试 (the message could not be sent; try again later)"
            ) from exc
