"""Generated images on disk: `<data_dir>/images/<xx>/<name>.png`, served by unguessable name.

A name is 192 random bits, so the URL itself is the credential (as the platform's own
image URLs are): it can be opened in a browser or an <img> tag without an API key, and
nobody can enumerate other accounts' images. Images are deleted after `ttl_days`.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

from openmaas.errors import NotFound

NAME = re.compile(r"^[A-Za-z0-9_-]{32}\.png$")


class ImageStore:
    def __init__(self, root: Path, ttl_days: int = 30) -> None:
        self.root = root
        self.ttl_seconds = ttl_days * 86400

    def save(self, png: bytes) -> str:
        name = secrets.token_urlsafe(24) + ".png"
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(png)
        os.replace(partial, path)
        return name

    def path_of(self, name: str) -> Path:
        if not NAME.match(name):
            raise NotFound("image")
        path = self._path(name)
        try:
            expired = time.time() - path.stat().st_mtime > self.ttl_seconds
        except FileNotFoundError:
            raise NotFound("image") from None
        if expired:
            raise NotFound("image")
        return path

    def purge_expired(self) -> int:
        cutoff, removed = time.time() - self.ttl_seconds, 0
        for path in self.root.glob("*/*.png") if self.root.is_dir() else ():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def _path(self, name: str) -> Path:
        return self.root / name[:2] / name
