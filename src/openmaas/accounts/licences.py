"""Business-licence images for enterprise verification: type sniffed from the bytes, size
capped, stored as blobs under `<data_dir>/verification/`."""

from __future__ import annotations

import os
from pathlib import Path

from openmaas.errors import InvalidField, MissingField

SIGNATURES = {
    b"\xff\xd8\xff": ("image/jpeg", "jpg"),
    b"\x89PNG\r\n\x1a\n": ("image/png", "png"),
    b"%PDF-": ("application/pdf", "pdf"),
}


def sniff_type(data: bytes) -> tuple[str, str]:
    """(content type, extension) from the magic bytes; what the client claims is ignored."""
    for magic, kind in SIGNATURES.items():
        if data.startswith(magic):
            return kind
    raise InvalidField("licence", "a JPEG, PNG or PDF file")


class LicenceStore:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self._root = root
        self.max_bytes = max_bytes

    def check(self, data: bytes) -> tuple[str, str]:
        if not data:
            raise MissingField("licence")
        if len(data) > self.max_bytes:
            raise InvalidField("licence", f"at most {self.max_bytes} bytes")
        return sniff_type(data)

    def save(self, account_id: str, application_id: str, data: bytes) -> tuple[str, str]:
        """Writes the blob atomically; returns (key relative to the root, content type)."""
        content_type, extension = self.check(data)
        key = f"{account_id}/{application_id}.{extension}"
        path = self._root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        os.replace(partial, path)
        return key, content_type

    def read(self, key: str) -> bytes:
        return (self._root / key).read_bytes()

    def delete(self, key: str) -> None:
        (self._root / key).unlink(missing_ok=True)
