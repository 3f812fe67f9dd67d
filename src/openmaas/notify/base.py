"""The Notifier protocol and the message it delivers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Channel = Literal["email", "phone"]


@dataclass(frozen=True)
class OutgoingMessage:
    channel: Channel
    target: str  # an email address or a phone number
    subject: str
    body: str
    kind: str  # verification_code | balance_alert | pack_alert | ...


class Notifier(Protocol):
    def send(self, message: OutgoingMessage) -> None:
        """Deliver the message or raise `DeliveryFailed`; called from worker threads."""
        ...
