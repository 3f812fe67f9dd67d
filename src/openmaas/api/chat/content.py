"""Message content given as parts: `text` and `image_url` (GLM-4V / OpenAI vision form).

An image is an http(s) URL, a data URL, or the bare base64 the Zhipu SDKs send (they strip
the `data:image/…;base64,` prefix before sending). URLs are never fetched here: they go to
the (vision) upstream as given. Base64 images are decoded to check them (an image format we
know, at most `MAX_IMAGE_BYTES`), and bare base64 goes on as a data URL, the form
OpenAI-compatible servers (vLLM) take. The whole body is also bounded by `max_body_bytes`.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from openmaas.errors import InvalidField

MAX_IMAGE_BYTES = 5 * 1024 * 1024  # per image, decoded (the platform's GLM-4V limit)
MAX_IMAGE_URL_CHARS = 8192
DATA_URL = re.compile(r"^data:(image/[a-zA-Z0-9.+-]+);base64,(.*)$", re.S)
WHITESPACE = re.compile(r"\s+")
MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


@dataclass(frozen=True)
class ParsedContent:
    text: str
    parts: tuple[dict[str, Any], ...] | None  # None: text only


def parse_parts(parts: list[Any], field: str) -> ParsedContent:
    """Validated parts; `field` is the content's path (`messages[0].content`)."""
    if not parts:
        raise InvalidField(field, "must not be an empty list")
    normalised = [_part(part, f"{field}[{j}]") for j, part in enumerate(parts)]
    text = "".join(p["text"] for p in normalised if p["type"] == "text")
    has_image = any(p["type"] == "image_url" for p in normalised)
    return ParsedContent(text, tuple(normalised) if has_image else None)


def _part(part: Any, field: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise InvalidField(field, "a content part must be an object with a `type`")
    kind = part.get("type")
    if kind == "text":
        if not isinstance(part.get("text"), str):
            raise InvalidField(f"{field}.text", "must be a string")
        return {"type": "text", "text": part["text"]}
    if kind == "image_url":
        image = part.get("image_url")
        if not isinstance(image, dict) or not isinstance(image.get("url"), str):
            raise InvalidField(f"{field}.image_url", 'expected {"url": "<http(s) URL, data URL or base64>"}')
        return {
            "type": "image_url",
            "image_url": {**image, "url": image_url(image["url"], f"{field}.image_url.url")},
        }
    raise InvalidField(f"{field}.type", f"unsupported content part type {kind!r} (text or image_url)")


def image_url(url: str, field: str) -> str:
    """The URL to send on: http(s) URLs as given, base64 checked and as a data URL."""
    stripped = url.strip()
    if stripped.startswith(("http://", "https://")):
        if len(stripped) > MAX_IMAGE_URL_CHARS or any(c.isspace() for c in stripped):
            raise InvalidField(field, "not a valid image URL")
        return stripped
    if match := DATA_URL.match(stripped):
        _decode(match.group(2), field)
        return stripped
    if stripped.startswith("data:") or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", stripped):
        raise InvalidField(field, "only http(s) URLs, data:image/...;base64 URLs or base64 images")
    data = _decode(stripped, field)
    return f"data:{_sniff(data, field)};base64,{WHITESPACE.sub('', stripped)}"


def _decode(payload: str, field: str) -> bytes:
    payload = WHITESPACE.sub("", payload)
    if len(payload) > (MAX_IMAGE_BYTES + 2) // 3 * 4:
        raise InvalidField(field, f"image larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MiB")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidField(field, "not valid base64") from None
    if not data:
        raise InvalidField(field, "empty image")
    return data


def _sniff(data: bytes, field: str) -> str:
    for magic, mime in MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise InvalidField(field, "not a PNG, JPEG, GIF, WEBP or BMP image")
