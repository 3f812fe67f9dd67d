"""The OCR engine behind a small interface, and safe image loading.

`RapidOcrEngine` runs the PP-OCRv4 detection/recognition ONNX models (Chinese and English)
that the pinned `rapidocr-onnxruntime==1.4.4` wheel ships inside itself: nothing is
downloaded at run time. Loaded on first use; one engine per process, one call at a time.
"""

from __future__ import annotations

import io
import threading
import warnings
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from openmaas.errors import InvalidField
from openmaas.tools_api.settings import OcrSettings


@dataclass(frozen=True)
class TextLine:
    text: str
    score: float
    box: tuple[tuple[float, float], ...]  # four corners, clockwise from top-left

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """left, top, width, height of the box's bounding rectangle."""
        xs, ys = [p[0] for p in self.box], [p[1] for p in self.box]
        left, top = int(min(xs)), int(min(ys))
        return left, top, int(max(xs)) - left, int(max(ys)) - top


@dataclass(frozen=True)
class OcrPage:
    width: int
    height: int
    lines: list[TextLine]

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


class OcrEngine(Protocol):
    def read(self, image) -> OcrPage: ...


def load_image(data: bytes, settings: OcrSettings, field: str = "file"):
    """Bytes → an RGB PIL image, or 1214 naming the problem (not an image, too large)."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # our own check below, with a clear error instead of a warning
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > settings.max_image_pixels:
                raise InvalidField(
                    field,
                    f"image of {image.width}x{image.height} pixels is over "
                    f"the limit of {settings.max_image_pixels} pixels",
                )
            image.load()
    except InvalidField:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InvalidField(field, f"not a readable image ({type(exc).__name__})") from exc
    return image.convert("RGB")


def fit(image, max_side: int):
    """Scaled down so its longer side is at most `max_side` (the detector's input grows with it)."""
    longest = max(image.width, image.height)
    if longest <= max_side:
        return image, 1.0
    scale = max_side / longest
    return image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale)))), scale


class RapidOcrEngine:
    def __init__(self, settings: OcrSettings) -> None:
        self._settings = settings
        self._engine: Any = None  # rapidocr's RapidOCR, loaded on first use
        self._lock = threading.Lock()

    def _load(self):
        from rapidocr_onnxruntime import RapidOCR

        threads = self._settings.threads
        return RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)

    def read(self, image) -> OcrPage:
        scaled, scale = fit(image, self._settings.max_side)
        with self._lock:
            if self._engine is None:
                self._engine = self._load()
            found, _ = self._engine(
                np.asarray(scaled)[:, :, ::-1],  # RGB → the BGR OpenCV expects
                use_cls=self._settings.angle_classifier,
            )
        lines = [
            TextLine(text, float(score), tuple((x / scale, y / scale) for x, y in box))
            for box, text, score in (found or [])
            if float(score) >= self._settings.min_score
        ]
        lines.sort(key=lambda line: (round(line.bounds[1] / 10), line.bounds[0]))  # reading order
        return OcrPage(image.width, image.height, lines)


def build_ocr_engine(settings: OcrSettings) -> OcrEngine | None:
    return RapidOcrEngine(settings) if settings.engine == "rapidocr" else None
