"""Settings of the tool endpoints (`settings.tools`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from openmaas.moderation.settings import ModerationSettings
from openmaas.tools_api.upstream_config import UpstreamToolConfig


class RerankSettings(BaseModel):
    names: list[str] = Field(default_factory=lambda: ["rerank", "glm-rerank"])  # public model names
    # English query and passages: the packaged cross-encoder; anything else: `multilingual`
    english: Literal["cross-encoder", "embedding", "fusion"] = "cross-encoder"
    # embedding: e5 cosine; fusion: e5 cosine + BM25 over jieba terms. Measured on 30 Chinese
    # and 30 English queries × 30 passages (bench/tool_endpoints.py), MRR zh/en: embedding
    # 1.000/0.983, fusion 0.983/0.967, lexical 0.936/0.712; the cross-encoder 0.380/0.983
    multilingual: Literal["embedding", "fusion", "lexical"] = "embedding"
    embedding_model: str | None = None  # default: the first configured embedding model
    fusion_dense_weight: float = Field(default=0.7, ge=0.0, le=1.0)
    upstream: UpstreamToolConfig | None = None  # when set, every rerank goes there
    max_documents: int = 128
    max_chars: int = 4096


class OcrSettings(BaseModel):
    engine: Literal["rapidocr", "none"] = "rapidocr"  # rapidocr: packaged PP-OCRv4 ONNX weights
    threads: int = Field(default=1, ge=1)
    max_image_pixels: int = 40_000_000  # decompression-bomb guard
    max_side: int = 2048  # larger images are scaled down before detection
    min_score: float = 0.5  # text lines below this confidence are dropped
    # PP-OCR's 0/180° line classifier: off by default, it flipped upright English lines on
    # generated pages (5 of 8 pages lost a line; bench/tool_endpoints.py); on for photos taken
    # upside down
    angle_classifier: bool = False


class ParserSettings(BaseModel):
    max_bytes: int = 50 * 1024 * 1024  # the platform's PDF limit
    max_image_bytes: int = 10 * 1024 * 1024
    max_pages: int = 100  # pages (or slides, sheets) read per document
    max_chars: int = 2_000_000
    result_ttl_hours: int = 72  # parser task results kept this long


class AudioSettings(BaseModel):
    tts_engine: Literal["espeak-ng", "none"] = "espeak-ng"  # Debian's espeak-ng, found on PATH
    espeak_binary: str = "espeak-ng"
    tts_names: list[str] = Field(default_factory=lambda: ["glm-tts", "cogtts", "tts"])
    max_speech_chars: int = 1024
    asr_names: list[str] = Field(default_factory=lambda: ["glm-asr", "glm-asr-2512", "whisper-1"])
    # auto: the upstream when set, else local Whisper base when its packages are installed
    asr_engine: Literal["auto", "whisper-local", "upstream", "none"] = "auto"
    asr_upstream: UpstreamToolConfig | None = None
    asr_threads: int = Field(default=2, ge=1)
    asr_language: str | None = None  # None: Whisper detects it
    max_audio_bytes: int = 25 * 1024 * 1024
    max_audio_seconds: float = 30.0


class VideoSettings(BaseModel):
    names: list[str] = Field(
        default_factory=lambda: ["cogvideox", "cogvideox-2", "cogvideox-3", "viduq1-text"]
    )
    upstream: UpstreamToolConfig | None = None  # a Zhipu-compatible platform: /videos/generations
    poll_seconds: float = 5.0
    max_wait_seconds: float = 1800.0


class IntranetSearchSettings(BaseModel):
    """Operator-designated knowledge bases searched as `search_engine=search_intranet` (and as
    the default engine when no SearxNG is configured): works offline."""

    account_id: str | None = None  # the operator account that owns the knowledge bases
    knowledge_ids: list[str] = Field(default_factory=list)
    link_base: str = "kb://"  # results link to <link_base><knowledge_id>/<document_id>


class ToolsSettings(BaseModel):
    rerank: RerankSettings = Field(default_factory=RerankSettings)
    ocr: OcrSettings = Field(default_factory=OcrSettings)
    parser: ParserSettings = Field(default_factory=ParserSettings)
    audio: AudioSettings = Field(default_factory=AudioSettings)
    moderation: ModerationSettings = Field(default_factory=ModerationSettings)
    intranet_search: IntranetSearchSettings = Field(default_factory=IntranetSearchSettings)
    video: VideoSettings = Field(default_factory=VideoSettings)
    tokenizer_max_messages: int = 1000
