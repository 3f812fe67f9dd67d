"""Builds the tool endpoints' services for `create_app` (one call)."""

from __future__ import annotations

from dataclasses import dataclass

from openmaas.billing.meter import Meter
from openmaas.catalog.registry import Catalog
from openmaas.config import Settings
from openmaas.embeddings.service import EmbeddingService
from openmaas.engines.upstream_tools import UpstreamToolClient
from openmaas.engines.whisper_local import LocalWhisperEngine, whisper_installed
from openmaas.files.blobstore import BlobStore
from openmaas.images.service import ImageService
from openmaas.jobs.queue import JobQueue
from openmaas.knowledge.wiring import KnowledgeServices
from openmaas.limits.base import Limiter
from openmaas.moderation.service import ModerationService
from openmaas.ocr.text import ocr_text_function
from openmaas.tools_api.async_media import AsyncMediaService
from openmaas.tools_api.audio import AudioService
from openmaas.tools_api.file_parser import KIND as FILE_PARSER_JOB
from openmaas.tools_api.file_parser import FileParserService
from openmaas.tools_api.metering import ToolMeter
from openmaas.tools_api.ocr_service import OcrService
from openmaas.tools_api.rerank import RerankService
from openmaas.tools_api.tokenizer import TokenizerService
from openmaas.tools_api.upstream_config import UpstreamToolConfig
from openmaas.tools_api.web_search import WebSearchService


@dataclass
class ToolServices:
    meter: ToolMeter
    tokenizer: TokenizerService
    rerank: RerankService
    web_search: WebSearchService
    moderation: ModerationService
    parser: FileParserService
    ocr: OcrService
    audio: AudioService
    media: AsyncMediaService

    def job_handlers(self) -> dict:
        return {FILE_PARSER_JOB: self.parser.run_job, **self.media.job_handlers()}

    async def close(self) -> None:
        await self.rerank.close()
        await self.moderation.close()
        await self.audio.close()
        await self.media.close()


def upstream_client(config: UpstreamToolConfig | None) -> UpstreamToolClient | None:
    if config is None:
        return None
    return UpstreamToolClient(config.url, config.model, config.api_key_env, config.timeout_seconds)


def speech_recognition(settings: Settings) -> tuple[UpstreamToolClient | None, LocalWhisperEngine | None]:
    """(upstream, local) transcription engines as `tools.audio.asr_engine` chooses."""
    audio = settings.tools.audio
    choice = audio.asr_engine
    if choice == "auto":
        choice = "upstream" if audio.asr_upstream else ("whisper-local" if whisper_installed() else "none")
    if choice == "upstream":
        if audio.asr_upstream is None:
            raise ValueError("tools.audio.asr_engine = upstream needs tools.audio.asr_upstream")
        return upstream_client(audio.asr_upstream), None
    if choice == "whisper-local":
        directory = settings.models_dir / "whisper-base"
        return None, LocalWhisperEngine(directory, audio.asr_threads, audio.asr_language)
    return None, None


def build_tool_services(
    settings: Settings,
    catalog: Catalog,
    embeddings: EmbeddingService,
    knowledge: KnowledgeServices,
    images: ImageService,
    jobs: JobQueue,
    blobs: BlobStore,
    meter: Meter,
    limiter: Limiter,
) -> ToolServices:
    tools = settings.tools
    tool_meter = ToolMeter(meter, limiter)
    ocr = knowledge.ocr
    return ToolServices(
        meter=tool_meter,
        tokenizer=TokenizerService(catalog, embeddings.catalog, tool_meter, tools.tokenizer_max_messages),
        rerank=RerankService(
            tools.rerank, embeddings, tool_meter, upstream=upstream_client(tools.rerank.upstream)
        ),
        web_search=WebSearchService(tool_meter),
        moderation=ModerationService(
            tools.moderation, tool_meter, upstream_client(tools.moderation.upstream)
        ),
        parser=FileParserService(
            tools.parser, tool_meter, jobs, blobs, ocr_text_function(ocr, tools.ocr) if ocr else None
        ),
        ocr=OcrService(ocr, tools.ocr, tools.parser, tool_meter),
        audio=AudioService(tools.audio, tool_meter, *speech_recognition(settings)),
        media=AsyncMediaService(images, jobs, tool_meter, tools.video, upstream_client(tools.video.upstream)),
    )
