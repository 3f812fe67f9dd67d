"""OCR with boxes: POST /files/ocr (words with their locations) and POST /layout_parsing
(GLM-OCR's shape: per page, text blocks with bbox_2d, and markdown).

Local and "lite": the packaged PP-OCRv4 models give text lines and boxes (label `text`);
ruled tables are found from their lines (`ocr/tables.py`, label `table`, markdown rows); no
formula or reading-order model (lines are ordered top to bottom). PDF pages are read from their text layer,
or, for scans, by OCR of the largest image on the page (boxes in that image's pixels).
Billed per page.
"""

from __future__ import annotations

import base64
import binascii
import io
import uuid
from dataclasses import dataclass

from openmaas.auth.principal import Principal
from openmaas.concurrency import run_in_threadpool
from openmaas.errors import DocumentRejected, FileTooLarge, InvalidField, ModelNotFound
from openmaas.ocr.engine import OcrEngine, OcrPage, TextLine, load_image
from openmaas.ocr.tables import TableGrid, find_tables, regions
from openmaas.tools_api.errors import NoEngineConfigured
from openmaas.tools_api.metering import ToolMeter
from openmaas.tools_api.prices import OCR
from openmaas.tools_api.settings import OcrSettings, ParserSettings

LAYOUT_MODELS = ("glm-ocr", "GLM-OCR", "ocr", "ocr-lite")
CORRUPT = 10004


@dataclass(frozen=True)
class LayoutBlock:
    index: int
    label: str
    content: str
    bbox: list[float] | None  # x1, y1, x2, y2
    width: int
    height: int


@dataclass(frozen=True)
class LayoutPage:
    width: int
    height: int
    blocks: list[LayoutBlock]

    @property
    def markdown(self) -> str:
        return "\n\n".join(block.content for block in self.blocks)


@dataclass(frozen=True)
class LayoutResult:
    request_id: str
    model: str
    pages: list[LayoutPage]


@dataclass(frozen=True)
class WordsResult:
    task_id: str
    lines: list[TextLine]


def decode_file_field(value: str, settings: ParserSettings) -> bytes:
    """`file` of /layout_parsing: base64 (or a data: URI). URLs are not fetched here."""
    text = value.strip()
    if text.startswith(("http://", "https://")):
        raise InvalidField("file", "this server does not fetch URLs; send the file as base64")
    if text.startswith("data:"):
        text = text.partition(",")[2]
    if len(text) > settings.max_bytes * 4 // 3 + 4:
        raise FileTooLarge(settings.max_bytes, "layout_parsing")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidField("file", "not valid base64") from exc


def page_of(ocr: OcrPage, tables: list[TableGrid]) -> LayoutPage:
    """Text lines and ruled tables (label `table`, markdown content) in reading order."""
    blocks = [
        LayoutBlock(i, region.label, region.content, [float(v) for v in region.box], ocr.width, ocr.height)
        for i, region in enumerate(regions(ocr.lines, tables))
    ]
    return LayoutPage(ocr.width, ocr.height, blocks)


class OcrService:
    def __init__(
        self, engine: OcrEngine | None, settings: OcrSettings, parser: ParserSettings, meter: ToolMeter
    ) -> None:
        self._engine = engine
        self.settings = settings
        self._parser = parser
        self._meter = meter

    @property
    def ready(self) -> bool:
        return self._engine is not None

    def _require_engine(self, model: str) -> OcrEngine:
        if self._engine is None:
            raise NoEngineConfigured(model, "OCR", "set tools.ocr.engine = rapidocr")
        return self._engine

    async def words(self, principal: Principal, data: bytes, tool_type: str | None) -> WordsResult:
        if tool_type not in (None, "hand_write"):
            raise InvalidField("tool_type", "hand_write")
        engine = self._require_engine("hand_write")
        if len(data) > self._parser.max_image_bytes:
            raise FileTooLarge(self._parser.max_image_bytes, "ocr")
        image = await run_in_threadpool(load_image, data, self.settings)
        task_id = uuid.uuid4().hex
        async with self._meter.metered(principal, OCR, 1, "ocr", task_id):
            page = await run_in_threadpool(engine.read, image)
        return WordsResult(task_id, page.lines)

    async def layout(
        self,
        principal: Principal,
        model: str,
        data: bytes,
        first: int | None,
        last: int | None,
        request_id: str | None = None,
    ) -> LayoutResult:
        if model not in LAYOUT_MODELS:
            raise ModelNotFound(model)
        engine = self._require_engine(model)
        is_pdf = data[:5] == b"%PDF-"
        if len(data) > (self._parser.max_bytes if is_pdf else self._parser.max_image_bytes):
            raise FileTooLarge(
                self._parser.max_bytes if is_pdf else self._parser.max_image_bytes, "layout_parsing"
            )
        if is_pdf:
            pages = await run_in_threadpool(self._pdf_pages, data, first, last)
        else:
            pages = [await run_in_threadpool(load_image, data, self.settings)]
        async with self._meter.metered(principal, OCR, len(pages), "layout_parsing", request_id) as meter:
            laid = [await run_in_threadpool(self._lay_out, engine, page) for page in pages]
        return LayoutResult(meter.request_id, model, laid)

    @staticmethod
    def _lay_out(engine: OcrEngine, page) -> LayoutPage:
        return page if isinstance(page, LayoutPage) else page_of(engine.read(page), find_tables(page))

    def _pdf_pages(self, data: bytes, first: int | None, last: int | None) -> list:
        """Per page: a LayoutPage from the text layer, or the image to OCR (a scan)."""
        from pypdf import PdfReader

        try:
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                raise DocumentRejected("PDF 已加密 (the PDF is encrypted or password-protected)", CORRUPT)
            count = len(reader.pages)
            start, end = _page_range(first, last, count, self._parser.max_pages)
            return [self._pdf_page(reader.pages[i]) for i in range(start, end)]
        except (DocumentRejected, InvalidField):
            raise
        except Exception as exc:
            raise DocumentRejected(
                f"PDF 文件损坏，无法解析 (corrupt or unreadable PDF: {type(exc).__name__})", CORRUPT
            ) from exc

    def _pdf_page(self, page):
        text = (page.extract_text() or "").strip()
        width, height = int(float(page.mediabox.width)), int(float(page.mediabox.height))
        if text:
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            return LayoutPage(
                width,
                height,
                [LayoutBlock(i, "text", line, None, width, height) for i, line in enumerate(lines)],
            )
        images = sorted(page.images, key=lambda im: len(im.data), reverse=True)
        for image in images:
            try:
                return load_image(image.data, self.settings)
            except InvalidField:
                continue
        return LayoutPage(width, height, [])


def _page_range(first: int | None, last: int | None, count: int, most: int) -> tuple[int, int]:
    start = (first or 1) - 1
    end = min(last or count, count)
    if start < 0 or start >= count or end <= start:
        raise InvalidField("start_page_id", f"pages 1–{count} (start ≤ end)")
    if end - start > most:
        raise InvalidField("end_page_id", f"at most {most} pages per request")
    return start, end
