"""Ruled tables in a page image, found from their lines (OpenCV morphology, no weights).

A table is a region where long horizontal and vertical strokes cross; its row and column
boundaries are where those strokes lie. OCR lines are then placed in the cell that holds
their centre, so a scanned table comes out as rows and cells instead of a jumble of lines.
Tables without ruling (whitespace-aligned columns) stay text: telling those from ordinary
multi-column text needs a layout model this platform does not ship.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from openmaas.ocr.engine import TextLine

MIN_CELLS = 2  # a ruled box with one cell is a frame, not a table
LINE_FRACTION = 30  # a stroke at least 1/30 of the page's side counts as a rule
MIN_GAP = 8  # pixels between two rules for them to bound a row or column


@dataclass(frozen=True)
class TableGrid:
    """A table's rules in page pixels: `rows` and `columns` are sorted boundary positions."""

    rows: tuple[int, ...]
    columns: tuple[int, ...]

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.columns[0], self.rows[0], self.columns[-1], self.rows[-1]

    def contains(self, x: float, y: float) -> bool:
        left, top, right, bottom = self.box
        return left <= x <= right and top <= y <= bottom

    def cell_of(self, x: float, y: float) -> tuple[int, int]:
        return _slot(self.rows, y), _slot(self.columns, x)


def find_tables(image) -> list[TableGrid]:
    """The ruled tables of a PIL image, top to bottom."""
    import cv2

    gray = np.asarray(image.convert("L"))
    ink = cv2.adaptiveThreshold(255 - gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 15, -2)
    height, width = ink.shape
    across = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((1, max(width // LINE_FRACTION, 10)), np.uint8))
    down = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((max(height // LINE_FRACTION, 10), 1), np.uint8))
    frame = cv2.dilate(cv2.bitwise_or(across, down), np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(frame, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    tables = []
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        grid = _grid(across[y : y + h, x : x + w], down[y : y + h, x : x + w], x, y)
        if grid is not None:
            tables.append(grid)
    return sorted(tables, key=lambda grid: grid.box[1])


def _grid(across: np.ndarray, down: np.ndarray, left: int, top: int) -> TableGrid | None:
    rows = _rules(across.sum(axis=1), across.shape[1], top)
    columns = _rules(down.sum(axis=0), down.shape[0], left)
    if len(rows) < 2 or len(columns) < 2 or (len(rows) - 1) * (len(columns) - 1) < MIN_CELLS:
        return None
    return TableGrid(tuple(rows), tuple(columns))


def _rules(profile: np.ndarray, span: int, offset: int) -> list[int]:
    """Positions where a stroke runs at least half the region's span, merged when adjacent."""
    strong = np.flatnonzero(profile >= 255 * span * 0.5)
    rules: list[int] = []
    for position in strong:
        if rules and position - rules[-1] < MIN_GAP:
            continue
        rules.append(int(position))
    return [offset + position for position in rules]


def _slot(bounds: Sequence[int], value: float) -> int:
    for index in range(len(bounds) - 1):
        if value < bounds[index + 1]:
            return index
    return len(bounds) - 2


def markdown_table(cells: list[list[str]]) -> str:
    """A pipe table; the first row is the header (as the platform's markdown does)."""

    def row(values: list[str]) -> str:
        return "| " + " | ".join(value.replace("|", "\\|").replace("\n", " ") for value in values) + " |"

    lines = [row(cells[0]), "| " + " | ".join("---" for _ in cells[0]) + " |"]
    return "\n".join(lines + [row(values) for values in cells[1:]])


@dataclass(frozen=True)
class Region:
    """A piece of a laid-out page: a text line or a whole table (markdown)."""

    label: str  # text | table
    content: str
    box: tuple[int, int, int, int]  # left, top, right, bottom


def regions(lines: Sequence[TextLine], tables: Sequence[TableGrid]) -> list[Region]:
    """Text lines outside tables as they are, each table as one markdown block, in reading
    order (by top edge)."""
    cells: list[dict[tuple[int, int], list[tuple[float, str]]]] = [{} for _ in tables]
    out: list[Region] = []
    for line in lines:
        left, top, width, height = line.bounds
        x, y = left + width / 2, top + height / 2
        home = next((i for i, grid in enumerate(tables) if grid.contains(x, y)), None)
        if home is None:
            out.append(Region("text", line.text, (left, top, left + width, top + height)))
        else:
            cells[home].setdefault(tables[home].cell_of(x, y), []).append((left, line.text))
    for grid, found in zip(tables, cells, strict=True):
        out.append(Region("table", markdown_table(_cell_texts(grid, found)), grid.box))
    return sorted(out, key=lambda region: (region.box[1], region.box[0]))


def _cell_texts(grid: TableGrid, found: dict[tuple[int, int], list[tuple[float, str]]]) -> list[list[str]]:
    return [
        [
            " ".join(text for _, text in sorted(found.get((row, column), [])))
            for column in range(len(grid.columns) - 1)
        ]
        for row in range(len(grid.rows) - 1)
    ]


def page_markdown(lines: Sequence[TextLine], tables: Sequence[TableGrid]) -> str:
    return "\n".join(region.content for region in regions(lines, tables))
