"""File parsing and OCR through the real SDKs on the packaged PP-OCRv4 weights: a generated
image with Chinese and English text, a scanned PDF page, office formats; bad input gets the
documented code naming the problem and leaves nothing behind."""

from __future__ import annotations

import base64
import io
import json
import zipfile

import httpx
import pytest

from tests.sdk._support import usage_rows, wait_for
from tests.tool_endpoints.conftest import encrypted_pdf, scanned_pdf, text_image, text_pdf

LINES = ["开放平台文件解析", "Hello OpenMaaS 2026"]


def squash(text: str) -> str:
    return "".join(text.split())


def assert_read(text: str) -> None:
    flat = squash(text)
    assert "开放平台文件解析" in flat and "HelloOpenMaaS2026" in flat, text


def test_zai_handwriting_ocr_of_a_generated_image(zai):
    answer = zai.ocr.handwriting_ocr(
        file=("page.png", text_image(LINES), "image/png"), tool_type="hand_write", probability=True
    )
    assert answer.words_result_num == 2
    assert_read("\n".join(w.words for w in answer.words_result))
    first = answer.words_result[0]
    assert first.location.left < 60 and first.location.top < 60 and first.location.width > 200
    assert 0.5 < first.probability.average <= 1.0


def test_zai_layout_parsing_boxes_and_markdown(zai):
    image = base64.b64encode(text_image(LINES, fmt="JPEG")).decode()
    answer = zai.layout_parsing.create(model="glm-ocr", file=image)
    assert_read(answer.md_results)
    blocks = answer.layout_details[0]
    assert [b.label for b in blocks] == ["text", "text"]
    x1, y1, x2, y2 = blocks[1].bbox_2d
    assert 20 <= x1 < x2 and 80 < y1 < y2 < 260  # the second line, drawn at y = 110
    assert answer.data_info.num_pages == 1 and answer.data_info.pages[0].width == 900


def test_zai_file_parser_sync_reads_a_scanned_pdf(zai, tool_server, tenant):
    answer = zai.file_parser.create_sync(
        file=("scan.pdf", scanned_pdf(LINES), "application/pdf"), file_type="PDF", tool_type="prime-sync"
    )
    assert answer.status is True
    assert_read(answer.content)
    rows = wait_for(
        lambda: usage_rows(tool_server.services, account_id=tenant.account_id, model="tool:file_parser")
    )
    assert rows[0].completion_tokens == 1 and rows[0].cost_micro == 1000  # one page at 0.001 元


def test_zai_file_parser_async_task_and_result(zai, tool_server):
    created = zai.file_parser.create(
        file=("notes.docx", docx_bytes("季度报告 quarterly report"), "application/x"),
        file_type="DOCX",
        tool_type="lite",
    )
    assert created.success and created.task_id

    def finished():
        body = json.loads(zai.file_parser.content(task_id=created.task_id, format_type="text").content)
        return body if body["status"] != "processing" else None

    body = wait_for(finished, timeout=30, interval=0.1)
    assert body["status"] == "succeeded" and "季度报告 quarterly report" in body["content"]
    link = json.loads(zai.file_parser.content(task_id=created.task_id, format_type="download_link").content)
    assert link["content"] == "" and link["parsing_result_url"].endswith(f"/{created.task_id}/text")
    parked = tool_server.services.settings.data_dir / "blobs" / "parser"
    assert parked.is_dir() and not list(parked.glob("*.bin"))  # the upload waited there, then went


def test_zhipuai_file_parser_create_and_content(zhipu):
    created = zhipu.file_parser.create(
        file=("t.xlsx", xlsx_bytes(), "application/x"), file_type="XLSX", tool_type="simple"
    )

    def finished():
        response = zhipu.file_parser.content(task_id=created.task_id, format_type="text")
        body = json.loads(response.content)
        return body if body["status"] != "processing" else None

    body = wait_for(finished, timeout=30, interval=0.1)
    assert body["status"] == "succeeded" and "# 销售" in body["content"] and "北京 | 120" in body["content"]


def sync_parse(server, tenant, filename, data, file_type):
    return httpx.post(
        f"{server.zhipu_base}/files/parser/sync",
        headers=tenant.headers,
        timeout=60,
        files={"file": (filename, data)},
        data={"file_type": file_type, "tool_type": "prime-sync"},
    )


@pytest.mark.parametrize(
    ("filename", "data", "file_type", "expected"),
    [
        ("a.md", "# 标题\n正文 body".encode(), "MD", "正文 body"),
        (
            "a.html",
            b"<html><body><p>Hello <b>HTML</b></p><script>x()</script></body></html>",
            "HTML",
            "Hello HTML",
        ),
        ("a.csv", "city,sales\n北京,120\n".encode(), "CSV", "city: 北京; sales: 120"),
        ("a.txt", "plain 文本".encode("gb18030"), "TXT", "plain 文本"),
        ("a.pdf", None, "PDF", "Text layer page"),
        ("a.pptx", None, "PPTX", "Slide two text"),
    ],
)
def test_formats(tool_server, tenant, filename, data, file_type, expected):
    if file_type == "PDF":
        data = text_pdf("Text layer page")
    if file_type == "PPTX":
        data = pptx_bytes()
    response = sync_parse(tool_server, tenant, filename, data, file_type)
    assert response.status_code == 200, response.text
    assert expected in response.json()["content"]


@pytest.mark.parametrize(
    ("filename", "data", "file_type", "status", "code", "words"),
    [
        ("bad.pdf", b"%PDF-1.4 this is not really a pdf", "PDF", 400, "1214", "corrupt"),
        ("locked.pdf", None, "PDF", 400, "1214", "password"),
        ("fake.png", b"this is not an image at all", "PNG", 400, "1214", "not a readable image"),
        ("a.doc", b"\xd0\xcf\x11\xe0", "DOC", 400, "1214", "file_type"),
        ("broken.docx", b"PK\x03\x04garbage", "DOCX", 400, "1214", "docx"),
        ("big.png", b"\x89PNG" + b"0" * (10 * 1024 * 1024 + 10), "PNG", 435, "1210", "larger than"),
    ],
)
def test_bad_input(tool_server, tenant, filename, data, file_type, status, code, words):
    if data is None:
        data = encrypted_pdf()
    response = sync_parse(tool_server, tenant, filename, data, file_type)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and words in error["message"], error


def test_bad_input_to_ocr_endpoints(tool_server, tenant):
    ocr = httpx.post(
        f"{tool_server.zhipu_base}/files/ocr",
        headers=tenant.headers,
        files={"file": ("x.png", b"GIF89a broken")},
        data={"tool_type": "hand_write"},
    )
    assert ocr.status_code == 400 and "not a readable image" in ocr.json()["error"]["message"]
    layout = httpx.post(
        f"{tool_server.zhipu_base}/layout_parsing",
        headers=tenant.headers,
        json={"model": "glm-ocr", "file": "http://example.com/a.png"},
    )
    assert layout.status_code == 400 and "base64" in layout.json()["error"]["message"]
    locked = httpx.post(
        f"{tool_server.zhipu_base}/layout_parsing",
        headers=tenant.headers,
        json={"model": "glm-ocr", "file": base64.b64encode(encrypted_pdf()).decode()},
    )
    assert locked.status_code == 400 and "password" in locked.json()["error"]["message"]
    unknown = httpx.post(
        f"{tool_server.zhipu_base}/layout_parsing",
        headers=tenant.headers,
        json={"model": "paddle-vl", "file": "aGVsbG8="},
    )
    assert unknown.json()["error"]["code"] == "1211"


def test_failed_async_task_reports_the_problem(tool_server, tenant):
    created = httpx.post(
        f"{tool_server.zhipu_base}/files/parser/create",
        headers=tenant.headers,
        files={"file": ("bad.pdf", b"%PDF-1.7 broken")},
        data={"file_type": "PDF", "tool_type": "lite"},
    ).json()
    url = f"{tool_server.zhipu_base}/files/parser/result/{created['task_id']}/text"
    body = wait_for(
        lambda: (r := httpx.get(url, headers=tenant.headers).json())["status"] != "processing" and r,
        timeout=30,
        interval=0.1,
    )
    assert body["status"] == "failed" and "1214" in body["message"] and "corrupt" in body["message"]
    other = httpx.get(url, headers={"Authorization": "Bearer " + tenant.api_key[:-2] + "xx"})
    assert other.status_code == 401


def test_knowledge_ingestion_reads_scanned_pdfs(tool_server, tenant):
    """The knowledge parser is the same parser: a scanned page becomes searchable text."""
    from openmaas.knowledge.parse import ParseLimits, parse_document
    from openmaas.ocr.text import ocr_text_function

    services = tool_server.services
    read = ocr_text_function(services.knowledge.ocr, services.settings.tools.ocr)
    text = parse_document("scan.pdf", scanned_pdf(LINES), ParseLimits(ocr=read))
    assert_read(text)
    without = ParseLimits()
    from openmaas.errors import DocumentRejected

    with pytest.raises(DocumentRejected):
        parse_document("scan.pdf", scanned_pdf(LINES), without)  # no text layer, no OCR: empty


# office documents built in the test ------------------------------------------------------
def _zip(parts: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return out.getvalue()


def docx_bytes(text: str) -> bytes:
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    return _zip(
        {
            "word/document.xml": f'<w:document xmlns:w="{w}"><w:body><w:p><w:r><w:t>{text}</w:t></w:r>'
            "</w:p></w:body></w:document>"
        }
    )


def xlsx_bytes() -> bytes:
    s = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    r = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    rel = "http://schemas.openxmlformats.org/package/2006/relationships"
    return _zip(
        {
            "xl/workbook.xml": f'<workbook xmlns="{s}" xmlns:r="{r}"><sheets>'
            '<sheet name="销售" sheetId="1" r:id="rId1"/>'
            "</sheets></workbook>",
            "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{rel}"><Relationship Id="rId1" '
            'Target="worksheets/sheet1.xml"/></Relationships>',
            "xl/sharedStrings.xml": f'<sst xmlns="{s}"><si><t>城市</t></si><si><t>北京</t></si></sst>',
            "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{s}"><sheetData><row><c t="s"><v>0</v></c>'
            '<c t="inlineStr"><is><t>销量</t></is></c></row><row><c t="s"><v>1</v></c>'
            "<c><v>120</v></c></row></sheetData></worksheet>",
        }
    )


def pptx_bytes() -> bytes:
    a = "http://schemas.openxmlformats.org/drawingml/2006/main"
    slide = '<p:sld xmlns:p="p" xmlns:a="{a}"><a:p><a:r><a:t>{text}</a:t></a:r></a:p></p:sld>'
    return _zip(
        {
            "ppt/presentation.xml": "<p/>",
            "ppt/slides/slide2.xml": slide.format(a=a, text="Slide two text"),
            "ppt/slides/slide1.xml": slide.format(a=a, text="Slide one"),
        }
    )


def test_parser_tasks_are_scoped_to_their_account(tool_server, tenant):
    from tests.tool_endpoints.conftest import paying_tenant

    created = httpx.post(
        f"{tool_server.zhipu_base}/files/parser/create",
        headers=tenant.headers,
        files={"file": ("a.txt", b"mine")},
        data={"file_type": "TXT", "tool_type": "lite"},
    ).json()
    other = paying_tenant(tool_server)
    url = f"{tool_server.zhipu_base}/files/parser/result/{created['task_id']}/text"
    assert httpx.get(url, headers=other.headers).status_code == 404
    assert httpx.get(url, headers=tenant.headers).status_code == 200


def test_a_scanned_pdf_uploaded_to_a_knowledge_base_is_retrievable(tool_server, tenant):
    base = tool_server.zhipu_base
    kb = httpx.post(
        f"{base}/knowledge", headers=tenant.headers, json={"embedding_id": 3, "name": "scans"}
    ).json()
    knowledge_id = kb["data"]["id"]
    upload = httpx.post(
        f"{base}/files",
        headers=tenant.headers,
        timeout=60,
        files={"file": ("scan.pdf", scanned_pdf(LINES))},
        data={"purpose": "retrieval", "knowledge_id": knowledge_id},
    )
    assert upload.status_code == 200 and upload.json()["successInfos"], upload.text

    def found():
        response = httpx.post(
            f"{base}/knowledge/retrieve",
            headers=tenant.headers,
            json={"query": "文件解析", "knowledge_ids": [knowledge_id]},
        )
        passages = response.json().get("data") or []
        return passages if passages and "文件解析" in squash(passages[0]["text"]) else None

    passages = wait_for(found, timeout=60, interval=0.2)
    assert "HelloOpenMaaS2026" in squash(passages[0]["text"])
