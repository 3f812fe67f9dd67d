"""Sends each message through the backend configured for its channel."""

from __future__ import annotations

from openmaas.notify.base import Channel, Notifier, OutgoingMessage


class ChannelRouter:
    def __init__(self, by_channel: dict[Channel, Notifier]) -> None:
        self._by_channel = dict(by_channel)

    def send(self, message: OutgoingMessage) -> None:
        self._by_channel[message.channel].send(message)

    def route(self, channel: Channel, notifier: Notifier) -> None:
        """Replace one channel's backend (plugins; tests install a recording notifier)."""
        self._by_channel[channel] = notifier
