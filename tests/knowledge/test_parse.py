"""Parsers: every supported type, and bad input that must fail clearly and boundedly."""

from __future__ import annotations

import pytest

from openmaas.errors import DocumentRejected
from openmaas.knowledge.parse import ParseLimits, parse_document
from tests.knowledge.documents import make_docx, make_entity_bomb_docx, make_pdf, make_zip_bomb_docx

LIMITS = ParseLimits(max_chars=10_000, max_docx_uncompressed=1 * 2**20, max_docx_ratio=100)


def parse(name: str, data: bytes) -> str:
    return parse_document(name, data, LIMITS)


def test_text_encodings():
    assert parse("a.txt", "第一行\r\n第二行".encode()) == "第一行\n第二行"
    assert parse("a.md", "# 标题\n\n正文".encode("gb18030")) == "# 标题\n\n正文"
    assert parse("a.txt", "\ufeffbom text".encode()) == "bom text"


def test_csv_rows_become_sentences():
    text = parse("t.csv", b"name,city\nAlice,Paris\nBob,Berlin\n")
    assert text.splitlines() == ["name: Alice; city: Paris。", "name: Bob; city: Berlin。"]


def test_html_drops_scripts_and_keeps_blocks():
    html = (
        b"<html><head><title>T</title><script>var x=1;</script></head>"
        b"<body><h1>Heading</h1><p>First &amp; second.</p><div>Third</div></body></html>"
    )
    assert parse("p.html", html) == "Heading\nFirst & second.\nThird"


def test_pdf_text():
    assert "The vault code is 4417" in parse("doc.pdf", make_pdf(["The vault code is 4417."]))


def test_docx_paragraphs_and_tables():
    text = parse("d.docx", make_docx(["第一段。", "Second paragraph."], [["k", "v"], ["a", "1"]]))
    assert text.splitlines() == ["第一段。", "Second paragraph.", "k | v", "a | 1"]


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("image.png", b"\x89PNG....", 10003),
        ("archive.zip", b"PK\x03\x04", 10003),
        ("broken.pdf", b"%PDF-1.4\n this is not a pdf at all", 10004),
        ("truncated.pdf", make_pdf(["hello"])[:60], 10004),
        ("broken.docx", b"not a zip", 10004),
        ("bomb.docx", make_zip_bomb_docx(5), 10004),
        ("entities.docx", make_entity_bomb_docx(), 10004),
        ("empty.txt", b"", 10005),
        ("blank.md", b"   \n\n  \t", 10005),
        ("binary.txt", b"\x00\x01\x02" * 100, 10004),
        ("long.txt", b"x" * 10_001, 10002),
    ],
)
def test_bad_documents_are_rejected_with_a_reason(name, data, code):
    with pytest.raises(DocumentRejected) as caught:
        parse(name, data)
    assert caught.value.reason_code == code and caught.value.message
