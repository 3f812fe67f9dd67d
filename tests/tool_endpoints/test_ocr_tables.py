"""Ruled tables in scans come out as tables: `/layout_parsing` gives one `table` block with
markdown rows, and the parser / knowledge OCR path reads the same rows. Real PP-OCRv4 on
generated pages (Chinese and English cells)."""

from __future__ import annotations

import base64
import io

from PIL import Image, ImageDraw, ImageFont

from openmaas.ocr.tables import find_tables
from tests.tool_endpoints.conftest import FONT, text_image

ROWS = [
    ["城市 City", "产品 Product", "销量 Units"],
    ["北京 Beijing", "Tea", "1200"],
    ["上海 Shanghai", "Coffee", "860"],
    ["Shenzhen", "茶叶", "455"],
]


def table_page(rows: list[list[str]] = ROWS, ruled: bool = True) -> Image.Image:
    """A title, a 4×3 ruled table (cells 300×80 px from (40, 90)), and a line under it."""
    font = ImageFont.truetype(FONT, 30)
    page = Image.new("RGB", (1000, 560), "white")
    draw = ImageDraw.Draw(page)
    draw.text((40, 20), "季度销售报告 Quarterly sales", font=font, fill="black")
    left, top, width, height = 40, 90, 300, 80
    if ruled:
        for r in range(len(rows) + 1):
            draw.line((left, top + r * height, left + 3 * width, top + r * height), fill="black", width=3)
        for c in range(4):
            x = left + c * width
            draw.line((x, top, x, top + len(rows) * height), fill="black", width=3)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            draw.text((left + c * width + 15, top + r * height + 22), cell, font=font, fill="black")
    draw.text((40, 440), "Total units: 2515 合计", font=font, fill="black")
    return page


def png(image: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def squash(text: str) -> str:
    return "".join(text.split())


def test_the_grid_of_a_ruled_table_and_none_elsewhere():
    grids = find_tables(table_page())
    assert len(grids) == 1
    assert len(grids[0].rows) == 5 and len(grids[0].columns) == 4
    assert abs(grids[0].box[0] - 40) <= 3 and abs(grids[0].box[3] - 410) <= 3
    assert find_tables(table_page(ruled=False)) == []  # aligned text without rules stays text
    assert find_tables(Image.open(io.BytesIO(text_image(["开放平台文件解析", "Hello OpenMaaS 2026"])))) == []
    framed = Image.new("RGB", (600, 300), "white")
    ImageDraw.Draw(framed).rectangle((20, 20, 580, 280), outline="black", width=3)
    assert find_tables(framed) == []  # a frame is one cell, not a table


def test_layout_parsing_gives_a_table_block_with_its_rows(zai):
    answer = zai.layout_parsing.create(model="glm-ocr", file=base64.b64encode(png(table_page())).decode())
    blocks = answer.layout_details[0]
    assert [b.label for b in blocks] == ["text", "table", "text"]
    table = blocks[1]
    lines = table.content.splitlines()
    assert len(lines) == 5 and squash(lines[1]) == "|---|---|---|"
    cells = [[squash(cell) for cell in line.strip("|").split("|")] for line in lines]
    assert cells[2] == ["北京Beijing", "Tea", "1200"] and cells[4] == ["Shenzhen", "茶叶", "455"]
    assert cells[0][2].startswith("销量")
    x1, y1, x2, y2 = table.bbox_2d
    assert abs(x1 - 40) <= 3 and abs(y2 - 410) <= 3
    assert "| 上海" in answer.md_results.replace("|  ", "| ")


def test_the_parser_reads_a_scanned_table_as_rows(zai):
    scan = io.BytesIO()
    table_page().save(scan, "PDF", resolution=150)
    answer = zai.file_parser.create_sync(
        file=("scan.pdf", scan.getvalue(), "application/pdf"), file_type="PDF", tool_type="prime-sync"
    )
    rows = [squash(line) for line in answer.content.splitlines() if line.startswith("|")]
    assert "|上海Shanghai|Coffee|860|" in rows, answer.content
