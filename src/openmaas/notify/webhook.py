"""A JSON POST per message, for an SMS gateway (or any relay that takes one)."""

from __future__ import annotations

import httpx

from openmaas.errors import DeliveryFailed
from openmaas.notify.base import OutgoingMessage


class WebhookNotifier:
    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._url = url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = timeout
        self._transport = transport

    def send(self, message: OutgoingMessage) -> None:
        payload = {"channel": message.channel, "to": message.target, "subject": message.subject,
                   "text": message.body, "kind": message.kind}
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as client:
                response = client.post(self._url, json=payload, headers=self._headers)
                response.raise_for_status()
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"消息网关发送失败 (webhook delivery failed: {exc})") from exc
