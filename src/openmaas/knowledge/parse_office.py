"""Spreadsheets (xlsx: one page per sheet) and slide decks (pptx: one page per slide),
read straight from their OOXML parts with the same zip-bomb and DTD guards as docx."""

from __future__ import annotations

import io
import re
import zipfile
from xml.etree import ElementTree

from openmaas.errors import DocumentRejected

CORRUPT = 10004
S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def open_archive(data: bytes, kind: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise DocumentRejected(f"{kind} 文件损坏 (not a valid .{kind}: bad zip)", CORRUPT) from exc


def read_xml(archive: zipfile.ZipFile, name: str, cap: int, kind: str) -> ElementTree.Element:
    from openmaas.knowledge.parse import _read_capped

    try:
        data = _read_capped(archive, name, cap)
    except KeyError as exc:
        raise DocumentRejected(f"{kind} 文件损坏 (no {name})", CORRUPT) from exc
    if b"<!DOCTYPE" in data[:4096].upper() or b"<!ENTITY" in data.upper():
        raise DocumentRejected(f"{kind} 含有不允许的 DTD (DOCTYPE/ENTITY not allowed)", CORRUPT)
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise DocumentRejected(f"{kind} 文件损坏 ({name}: {exc})", CORRUPT) from exc


# xlsx -----------------------------------------------------------------------------------
def xlsx_pages(data: bytes, cap: int, max_pages: int) -> list[str]:
    from openmaas.knowledge.parse import _check_zip_total

    with open_archive(data, "xlsx") as archive:
        _check_zip_total(archive, cap)
        shared = _shared_strings(archive, cap)
        pages = []
        for title, part in _sheets(archive, cap)[:max_pages]:
            rows = _sheet_rows(read_xml(archive, part, cap, "xlsx"), shared)
            pages.append("\n".join([f"# {title}", *rows]) if rows else "")
        return pages


def _shared_strings(archive: zipfile.ZipFile, cap: int) -> list[str]:
    if "xl/sharedStrings.xml" not in archive.namelist():
        return []
    root = read_xml(archive, "xl/sharedStrings.xml", cap, "xlsx")
    return ["".join(t.text or "" for t in si.iter(f"{S}t")) for si in root.iter(f"{S}si")]


def _sheets(archive: zipfile.ZipFile, cap: int) -> list[tuple[str, str]]:
    workbook = read_xml(archive, "xl/workbook.xml", cap, "xlsx")
    rels = read_xml(archive, "xl/_rels/workbook.xml.rels", cap, "xlsx")
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iter(f"{REL}Relationship")}
    sheets = []
    for sheet in workbook.iter(f"{S}sheet"):
        target = targets.get(sheet.get(R_ID), "")
        part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        if part in archive.namelist():
            sheets.append((sheet.get("name", ""), part))
    return sheets


def _sheet_rows(root: ElementTree.Element, shared: list[str]) -> list[str]:
    rows = []
    for row in root.iter(f"{S}row"):
        cells = [_cell(c, shared) for c in row.iter(f"{S}c")]
        if any(cells):
            rows.append(" | ".join(cells))
    return rows


def _cell(cell: ElementTree.Element, shared: list[str]) -> str:
    kind = cell.get("t")
    if kind == "inlineStr":
        return "".join(t.text or "" for t in cell.iter(f"{S}t")).strip()
    value = cell.findtext(f"{S}v") or ""
    if kind == "s":
        try:
            return shared[int(value)].strip()
        except (ValueError, IndexError):
            return ""
    return value.strip()


# pptx -----------------------------------------------------------------------------------
_SLIDE = re.compile(r"^ppt/slides/slide(\d+)\.xml$")


def pptx_pages(data: bytes, cap: int, max_pages: int) -> list[str]:
    from openmaas.knowledge.parse import _check_zip_total

    with open_archive(data, "pptx") as archive:
        _check_zip_total(archive, cap)
        slides = sorted((int(m.group(1)), name) for name in archive.namelist() if (m := _SLIDE.match(name)))
        if not slides and "ppt/presentation.xml" not in archive.namelist():
            raise DocumentRejected("pptx 文件损坏 (no ppt/presentation.xml)", CORRUPT)
        return [_slide_text(read_xml(archive, name, cap, "pptx")) for _, name in slides[:max_pages]]


def _slide_text(root: ElementTree.Element) -> str:
    paragraphs = ("".join(t.text or "" for t in p.iter(f"{A}t")).strip() for p in root.iter(f"{A}p"))
    return "\n".join(p for p in paragraphs if p)
