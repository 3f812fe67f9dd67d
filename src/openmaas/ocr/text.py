"""OCR as a plain function (image bytes → text), the form document parsing takes."""

from __future__ import annotations

from collections.abc import Callable

from openmaas.errors import DocumentRejected, InvalidField
from openmaas.ocr.engine import OcrEngine, load_image
from openmaas.ocr.tables import find_tables, page_markdown
from openmaas.tools_api.settings import OcrSettings

CORRUPT = 10004


def ocr_text_function(engine: OcrEngine, settings: OcrSettings) -> Callable[[bytes], str]:
    def read(data: bytes) -> str:
        try:
            image = load_image(data, settings)
        except InvalidField as exc:
            raise DocumentRejected(exc.message, CORRUPT) from exc
        return page_markdown(engine.read(image).lines, find_tables(image))  # tables as rows

    return read
