"""A live server per module (fake chat engine, fake embeddings unless a module asks for the
real ones), a fresh tenant with cash per test, and both SDKs' clients.

The tool endpoints bill per call/page/second in cash (like images), so each tenant gets
10 元 on top of the registration grant."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator

import pytest
from zhipuai import ZhipuAI

from openmaas.config import Settings
from tests.conftest import (
    LiveServer,
    Tenant,
    add_tenant,
    fake_embeddings,
    fake_models,
    start_live_server,
    with_fake_prices,
)

CASH_MICRO = 10_000_000
FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


def tool_settings(root, **overrides) -> Settings:
    values = {
        "environment": "test",
        "data_dir": root / "data",
        "database_url": f"sqlite:///{root / 'db.sqlite'}",
        "models": fake_models(),
        "embeddings": fake_embeddings(),
        "job_poll_seconds": 0.05,
        "secret_key": "test-secret",
    }
    return with_fake_prices(Settings(**(values | overrides)))


@pytest.fixture(scope="module")
def tool_server(tmp_path_factory) -> Iterator[LiveServer]:
    server = start_live_server(tool_settings(tmp_path_factory.mktemp("tools")))
    yield server
    server.stop()


def paying_tenant(server: LiveServer) -> Tenant:
    tenant = add_tenant(server.services, f"tools-{uuid.uuid4().hex[:8]}")
    server.services.billing.admin_credit("test-admin", tenant.account_id, CASH_MICRO, "tool tests")
    return tenant


@pytest.fixture
def tenant(tool_server) -> Tenant:
    return paying_tenant(tool_server)


@pytest.fixture
def zai(tool_server, tenant):
    from zai import ZhipuAiClient

    client = ZhipuAiClient(api_key=tenant.api_key, base_url=tool_server.zhipu_base, max_retries=0)
    yield client


@pytest.fixture
def zhipu(tool_server, tenant) -> Iterator[ZhipuAI]:
    client = ZhipuAI(api_key=tenant.api_key, base_url=tool_server.zhipu_base, max_retries=0)
    yield client
    client.close()


def text_image(lines: list[str], size: tuple[int, int] = (900, 260), fmt: str = "PNG") -> bytes:
    """A white page with black text lines (Chinese and English) drawn by PIL in a CJK font."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(FONT, 36)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((30, 30 + i * 80), line, font=font, fill="black")
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def scanned_pdf(lines: list[str]) -> bytes:
    """A one-page PDF that is only an image of text (no text layer): a scan."""
    from PIL import Image

    image = Image.open(io.BytesIO(text_image(lines)))
    out = io.BytesIO()
    image.save(out, "PDF", resolution=150)
    return out.getvalue()


def text_pdf(text: str) -> bytes:
    """A one-page PDF with a text layer (pypdf writes it)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(300, 200)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    stream = DecodedStreamObject()
    stream.set_data(f"BT /F1 12 Tf 20 150 Td ({text}) Tj ET".encode())
    page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf("secret"))))
    writer.encrypt(user_password="pw", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
