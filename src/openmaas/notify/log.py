"""Development backend: messages go to the server log instead of a mailbox or a phone."""

from __future__ import annotations

import logging

from openmaas.notify.base import OutgoingMessage

log = logging.getLogger("openmaas.notify")


class LogNotifier:
    """`redact` (production): the body, which carries verification codes, stays out of the log."""

    def __init__(self, redact: bool = False) -> None:
        self._redact = redact

    def send(self, message: OutgoingMessage) -> None:
        body = "(body withheld in production: configure smtp or webhook)" if self._redact else message.body
        # WARNING, so that the message shows with Python's and uvicorn's default logging.
        log.warning(
            "notify %s %s [%s] %s: %s", message.channel, message.target, message.kind, message.subject, body
        )
