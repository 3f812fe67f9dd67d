"""Documents → plain text: txt, md, csv, html, pdf, docx, xlsx, pptx and images.

`parse_pages` gives the text per page (PDF pages, slides, sheets; one page for the rest);
`parse_document` joins them for knowledge ingestion. With an OCR function in the limits
(`ParseLimits.ocr`, image bytes → text), images are read and PDF pages that carry no
text layer (scans) are read from their images, so scanned documents become searchable;
without one, images are refused and scanned pages stay empty. The tool endpoints'
file parser (tools_api/file_parser.py) uses these same functions.

Every failure is a `DocumentRejected` carrying the failInfo code shown on the document
(10002: over the character cap, 10003: unsupported type, 10004: corrupt/unreadable,
10005: no text). Bad input is bounded: docx members are read with size and ratio caps
(zip bombs), XML with a DOCTYPE is refused (entity bombs), PDFs are read leniently
and a page cap applies.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import PurePath
from xml.etree import ElementTree

from openmaas.errors import DocumentRejected

UNSUPPORTED, TOO_LONG, CORRUPT, EMPTY = 10003, 10002, 10004, 10005
MAX_PDF_PAGES = 5000
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


IMAGE_KINDS = frozenset({"png", "jpg", "jpeg", "bmp", "gif", "webp", "tiff", "tif"})


@dataclass(frozen=True)
class ParseLimits:
    max_chars: int = 500_000
    max_docx_uncompressed: int = 200 * 1024 * 1024
    max_docx_ratio: int = 200
    max_pages: int = MAX_PDF_PAGES
    ocr: Callable[[bytes], str] | None = field(default=None, compare=False)  # image bytes → text


def file_kind(filename: str) -> str:
    suffix = PurePath(filename).suffix.lower().lstrip(".")
    return {"markdown": "md", "htm": "html"}.get(suffix, suffix)


def parse_pages(filename: str, data: bytes, limits: ParseLimits) -> list[str]:
    """Normalised text per page; raises DocumentRejected (unsupported, corrupt)."""
    kind = file_kind(filename)
    if kind in PAGE_PARSERS:
        return [normalise(page) for page in PAGE_PARSERS[kind](data, limits)]
    parser = PARSERS.get(kind)
    if parser is None:
        raise DocumentRejected(f"文件格式不支持 (unsupported file type: {filename})", UNSUPPORTED)
    return [normalise(parser(data, limits))]


def parse_document(filename: str, data: bytes, limits: ParseLimits) -> str:
    text = normalise("\n\n".join(parse_pages(filename, data, limits)))
    if not text.strip():
        raise DocumentRejected("文档没有可用的文本 (the document contains no text)", EMPTY)
    if len(text) > limits.max_chars:
        raise DocumentRejected(
            f"容量上限为 {limits.max_chars} 字 (document has {len(text)} "
            f"characters; the limit is {limits.max_chars})",
            TOO_LONG,
        )
    return text


def normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = re.sub(r"[ \t\u00a0\u3000]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# text formats ---------------------------------------------------------------------------
def decode_text(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    if b"\x00" in data[:4096]:
        raise DocumentRejected("不是文本文件 (binary content in a text document)", CORRUPT)
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def parse_text(data: bytes, limits: ParseLimits) -> str:
    return decode_text(data)


def parse_csv(data: bytes, limits: ParseLimits) -> str:
    text = decode_text(data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in row)]
    if not rows:
        return ""
    header, body = rows[0], rows[1:]
    if not body:
        return " | ".join(header)
    lines = [
        "; ".join(f"{h.strip()}: {v.strip()}" for h, v in zip(header, row, strict=False) if v.strip())
        for row in body
    ]
    return "\n".join(line + "。" if line else line for line in lines)


class _HtmlText(HTMLParser):
    SKIP = {"script", "style", "noscript", "template", "head", "svg"}
    BLOCK = {
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "table",
        "ul",
        "ol",
        "pre",
        "blockquote",
        "title",
        "header",
        "footer",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in self.SKIP:
            self._skipping += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def parse_html(data: bytes, limits: ParseLimits) -> str:
    parser = _HtmlText()
    parser.feed(decode_text(data))
    parser.close()
    lines = (re.sub(r"[ \t]+", " ", line).strip() for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


# binary formats -------------------------------------------------------------------------
def parse_pdf_pages(data: bytes, limits: ParseLimits) -> list[str]:
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise DocumentRejected("PDF 已加密 (the PDF is encrypted or password-protected)", CORRUPT)
        if len(reader.pages) > min(MAX_PDF_PAGES, limits.max_pages):
            raise DocumentRejected(
                f"PDF 页数过多 (more than {min(MAX_PDF_PAGES, limits.max_pages)} pages)", TOO_LONG
            )
        pages, total = [], 0
        for page in reader.pages:
            text = page.extract_text() or ""
            if not text.strip() and limits.ocr is not None:
                text = ocr_page_images(page, limits.ocr)
            total += len(text)
            if total > limits.max_chars * 2:
                break  # the cap check after normalising reports it
            pages.append(text)
    except DocumentRejected:
        raise
    except Exception as exc:  # pypdf raises many types on damaged files
        raise DocumentRejected(
            f"PDF 文件损坏，无法解析 (corrupt or unreadable PDF: {type(exc).__name__})", CORRUPT
        ) from exc
    return pages


def ocr_page_images(page, ocr: Callable[[bytes], str]) -> str:
    """The text of a page without a text layer, read from the images drawn on it."""
    texts = []
    for image in page.images:
        try:
            texts.append(ocr(image.data))
        except Exception:  # an image pypdf or PIL cannot decode (JBIG2, broken, oversized): skip it
            continue
    return "\n".join(t for t in texts if t)


def parse_pdf(data: bytes, limits: ParseLimits) -> str:
    return "\n\n".join(parse_pdf_pages(data, limits))


def parse_image(data: bytes, limits: ParseLimits) -> str:
    if limits.ocr is None:
        raise DocumentRejected("图片需要 OCR (images need OCR, which is not configured)", UNSUPPORTED)
    return limits.ocr(data)


def parse_xlsx_pages(data: bytes, limits: ParseLimits) -> list[str]:
    from openmaas.knowledge.parse_office import xlsx_pages

    return xlsx_pages(data, limits.max_docx_uncompressed, limits.max_pages)


def parse_pptx_pages(data: bytes, limits: ParseLimits) -> list[str]:
    from openmaas.knowledge.parse_office import pptx_pages

    return pptx_pages(data, limits.max_docx_uncompressed, limits.max_pages)


def parse_docx(data: bytes, limits: ParseLimits) -> str:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise DocumentRejected("docx 文件损坏 (not a valid .docx: bad zip)", CORRUPT) from exc
    with archive:
        _check_zip(archive, limits)
        try:
            xml = _read_capped(archive, "word/document.xml", limits.max_docx_uncompressed)
        except KeyError as exc:
            raise DocumentRejected("docx 文件损坏 (no word/document.xml)", CORRUPT) from exc
    return _docx_text(xml)


def _check_zip(archive: zipfile.ZipFile, limits: ParseLimits) -> None:
    _check_zip_total(archive, limits.max_docx_uncompressed, limits.max_docx_ratio)


def _check_zip_total(archive: zipfile.ZipFile, cap: int, max_ratio: int = 200) -> None:
    total = 0
    for info in archive.infolist():
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if total > cap or (info.file_size > 1_000_000 and ratio > max_ratio):
            raise DocumentRejected(
                "docx 解压后过大，疑似压缩炸弹 (zip bomb: uncompressed size "
                "or compression ratio over the limit)",
                CORRUPT,
            )


def _read_capped(archive: zipfile.ZipFile, name: str, cap: int) -> bytes:
    try:
        with archive.open(name) as member:
            data = member.read(cap + 1)  # the header may lie: never trust file_size alone
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise DocumentRejected(f"docx 文件损坏 ({name}: {exc})", CORRUPT) from exc
    if len(data) > cap:
        raise DocumentRejected("docx 解压后过大，疑似压缩炸弹 (zip bomb)", CORRUPT)
    return data


def _docx_text(xml: bytes) -> str:
    if b"<!DOCTYPE" in xml[:4096].upper() or b"<!ENTITY" in xml.upper():
        raise DocumentRejected("docx 含有不允许的 DTD (DOCTYPE/ENTITY not allowed)", CORRUPT)
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise DocumentRejected(f"docx 文件损坏 (document.xml: {exc})", CORRUPT) from exc
    body = root.find(f"{W}body")
    if body is None:
        return ""
    lines: list[str] = []
    for block in body:
        if block.tag == f"{W}p":
            lines.append(_paragraph(block))
        elif block.tag == f"{W}tbl":
            for row in block.iter(f"{W}tr"):
                cells = [
                    " ".join(_paragraph(p) for p in cell.iter(f"{W}p")).strip() for cell in row.iter(f"{W}tc")
                ]
                lines.append(" | ".join(c for c in cells if c))
    return "\n".join(lines)


def _paragraph(paragraph: ElementTree.Element) -> str:
    parts = []
    for node in paragraph.iter():
        if node.tag == f"{W}t" and node.text:
            parts.append(node.text)
        elif node.tag == f"{W}tab":
            parts.append("\t")
        elif node.tag in (f"{W}br", f"{W}cr"):
            parts.append("\n")
    return "".join(parts)


PARSERS: dict[str, Callable[[bytes, ParseLimits], str]] = {
    "txt": parse_text,
    "md": parse_text,
    "csv": parse_csv,
    "html": parse_html,
    "docx": parse_docx,
    **{kind: parse_image for kind in IMAGE_KINDS},
}
PAGE_PARSERS: dict[str, Callable[[bytes, ParseLimits], list[str]]] = {
    "pdf": parse_pdf_pages,
    "xlsx": parse_xlsx_pages,
    "pptx": parse_pptx_pages,
}
