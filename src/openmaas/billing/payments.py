"""The payment-provider interface for real gateways (none is enabled by default).

A provider turns a top-up intent into a payment the user completes elsewhere (a QR code
for WeChat Pay / Alipay, a card form) and later reports it paid through a signed
callback. Only a verified callback credits money, through `BillingService.credit_topup`,
which is idempotent on the provider's payment id — callbacks are retried by gateways.

To add one: implement `PaymentProvider`, verify the gateway's signature in
`parse_callback`, and register it in the app factory; expose its callback route under
`/api/platform/payments/<name>/callback`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class PaymentIntent:
    payment_id: str  # the provider's id, the idempotency key for crediting
    account_id: str
    amount_micro: int
    pay_url: str  # where the user pays (page or QR payload)


@dataclass(frozen=True)
class PaidEvent:
    payment_id: str
    account_id: str
    amount_micro: int


class PaymentProvider(Protocol):
    name: str

    def create_intent(self, account_id: str, amount_micro: int) -> PaymentIntent: ...

    def parse_callback(self, headers: dict[str, str], body: bytes) -> PaidEvent | None:
        """The verified payment, or None when the signature or payload is not valid."""
        ...
