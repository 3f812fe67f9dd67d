"""Outgoing messages (verification codes, balance alerts): a `Notifier` protocol and its backends.

Backends are chosen per channel by `settings.notify`: SMTP email, a JSON webhook (an SMS
gateway or any relay) or the server log for development.
"""
