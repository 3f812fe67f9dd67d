"""The server's key-encryption key and secret sealing.

Raw-key auth only needs a hash of the secret, but Zhipu JWT mode signs with the secret
itself (HS256), so the server must be able to recover it: it is kept sealed with a
server-side key (Fernet, AES-128-CBC + HMAC), never in the clear.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet


def load_or_create_server_key(configured: str | None, data_dir: Path) -> bytes:
    """A configured secret wins; otherwise a random key generated once into data_dir."""
    if configured:
        return base64.urlsafe_b64encode(hashlib.sha256(configured.encode()).digest())
    path = data_dir / "secret.key"
    if path.is_file():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


class SecretSealer:
    def __init__(self, server_key: bytes) -> None:
        self._fernet = Fernet(server_key)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def unseal(self, sealed: str) -> str:
        return self._fernet.decrypt(sealed.encode()).decode()
