"""Development backend: messages go to the server log instead of a mailbox or a phone."""

from __future__ import annotations

import logging

from openmaas.notify.base import OutgoingMessage

log = logging.getLogger("openmaas.notify")


class LogNotifier:
    def send(self, message: OutgoingMessage) -> None:
        # WARNING, so that the message shows with Python's and uvicorn's default logging.
        log.warning("notify %s %s [%s] %s: %s", message.channel, message.target, message.kind,
                    message.subject, message.body)
