"""POST /audio/speech (raw wav/pcm, or SSE chunks of base64 audio with `stream: true`) and
POST /audio/transcriptions (multipart `file` or `file_base64`)."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.api.tool_endpoints.common import form_file, form_text, read_form
from openmaas.auth.principal import Principal
from openmaas.errors import InvalidField, MissingField, PlatformError
from openmaas.services import Services
from openmaas.tools_api.audio import Speech, Transcript, TranscriptStream

router = APIRouter(route_class=OffLoopJSONRoute, tags=["tools: audio"])
STREAM_CHUNK_BYTES = 48_000  # ~1 s of 24 kHz 16-bit audio per event


class SpeechBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    input: str
    voice: str | None = None
    response_format: str | None = None  # wav | pcm (the platform's default: pcm)
    speed: float | None = None
    volume: float | None = Field(default=None, gt=0, le=10)
    stream: bool | None = False
    encode_format: str | None = None  # stream: base64 (default) | hex
    request_id: str | None = Field(default=None, max_length=128)
    user_id: str | None = Field(default=None, max_length=128)

    def stream_encoding(self) -> str:
        """How streamed chunks are encoded: base64 (the default) or hex."""
        if self.encode_format not in (None, "base64", "hex"):
            raise InvalidField("encode_format", "base64 or hex")
        return self.encode_format or "base64"


AUDIO_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"audio/wav": {}, "audio/pcm": {}, "text/event-stream": {}},
        "description": "the audio (wav or pcm), or SSE chunks of it with stream: true",
    }
}


@router.post("/audio/speech", response_model=None, response_class=Response, responses=AUDIO_CONTENT)
async def speech(body: SpeechBody, services: ServicesDep, principal: PrincipalDep) -> Response:
    return await spoken(body, services, principal)


async def spoken(body: SpeechBody, services: Services, principal: Principal) -> Response:
    """The speech answer for `body` (the API's and the playground's `/audio/speech`)."""
    encoding = body.stream_encoding()
    made = await services.tools.audio.speak(
        principal,
        body.model,
        body.input,
        body.voice,
        body.response_format or "pcm",
        body.speed,
        body.request_id,
    )
    return speech_answer(made, encoding if body.stream else None)


def speech_answer(made: Speech, stream_encoding: str | None) -> Response:
    """The audio, or (with a `stream_encoding`) SSE chunks of it."""
    headers = {"X-Request-Id": made.request_id, "X-Audio-Seconds": f"{made.seconds:.3f}"}
    if stream_encoding is not None:
        return StreamingResponse(
            speech_events(made, stream_encoding), media_type="text/event-stream", headers=headers
        )
    return Response(made.audio, media_type=made.media_type, headers=headers)


def speech_events(made: Speech, encoding: str) -> Iterator[bytes]:
    created = int(time.time())
    for start in range(0, len(made.audio), STREAM_CHUNK_BYTES):
        piece = made.audio[start : start + STREAM_CHUNK_BYTES]
        content = piece.hex() if encoding == "hex" else base64.b64encode(piece).decode()
        yield _event(made, created, {"role": "assistant", "content": content}, None)
    yield _event(made, created, {"role": "assistant", "content": ""}, "stop")
    yield b"data: [DONE]\n\n"


def _event(made: Speech, created: int, delta: dict[str, Any], finish: str | None) -> bytes:
    return _sse(
        {
            "request_id": made.request_id,
            "created": created,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


class TranscriptionResponse(BaseModel):
    id: str
    created: int
    request_id: str
    model: str
    text: str


TRANSCRIPT_EVENTS: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {}},
        "description": "the transcript, or with stream=true SSE events `transcript.text.delta` "
        "(one per decoded segment) and a final `transcript.text.done`",
    }
}


@dataclass(frozen=True)
class TranscriptionForm:
    model: str
    filename: str
    data: bytes
    prompt: str | None
    request_id: str | None
    stream: bool


async def read_transcription_form(request: Request, max_bytes: int) -> TranscriptionForm:
    """The multipart fields: `model`, `file` (or `file_base64`), `prompt`, `request_id`, `stream`."""
    form = await read_form(request)
    try:
        model = form_text(form, "model")
        if model is None:
            raise MissingField("model")
        stream = _stream_flag(form_text(form, "stream"))
        prompt, request_id = form_text(form, "prompt"), form_text(form, "request_id")
        if form.get("file") is not None:
            filename, data = await form_file(form, max_bytes)
        else:
            filename, data = "audio.wav", _base64_audio(form_text(form, "file_base64"))
    finally:
        await form.close()
    return TranscriptionForm(model, filename, data, prompt, request_id, stream)


@router.post("/audio/transcriptions", response_model=TranscriptionResponse, responses=TRANSCRIPT_EVENTS)
async def transcriptions(
    request: Request, services: ServicesDep, principal: PrincipalDep
) -> TranscriptionResponse | StreamingResponse:
    return await transcribed(request, services, principal)


async def transcribed(
    request: Request, services: Services, principal: Principal
) -> TranscriptionResponse | StreamingResponse:
    """The transcription answer for the form in `request` (the API's and the playground's)."""
    audio = services.tools.audio
    form = await read_transcription_form(request, audio.settings.max_audio_bytes)
    clip = (form.model, form.filename, form.data, form.prompt, form.request_id)
    if form.stream:
        return transcript_stream(await audio.open_transcription_stream(principal, *clip))
    return transcription_answer(await audio.transcribe(principal, *clip))


def transcription_answer(result: Transcript) -> TranscriptionResponse:
    return TranscriptionResponse(
        id=result.request_id,
        created=int(time.time()),
        request_id=result.request_id,
        model=result.model,
        text=result.text,
    )


def transcript_stream(opened: TranscriptStream) -> StreamingResponse:
    return StreamingResponse(
        transcript_events(opened), media_type="text/event-stream", headers={"X-Request-Id": opened.request_id}
    )


def _stream_flag(value: str | None) -> bool:
    text = (value or "false").strip().lower()
    if text not in ("true", "false"):
        raise InvalidField("stream", "true or false")
    return text == "true"


async def transcript_events(opened: TranscriptStream) -> AsyncIterator[bytes]:
    """GLM-ASR's stream: `{id, created, model, type: transcript.text.delta, delta}` per
    segment, then `transcript.text.done` with the whole text; a failure mid-way is an
    error event in the platform's envelope (nothing charged), then [DONE]."""
    created, texts = int(time.time()), []
    head = {
        "id": opened.request_id,
        "created": created,
        "request_id": opened.request_id,
        "model": opened.model,
    }
    try:
        async for text in opened.pieces():
            texts.append(text)
            yield _sse(head | {"type": "transcript.text.delta", "delta": text})
    except PlatformError as exc:
        yield _sse({"error": {"code": exc.code, "message": exc.message}})
    else:
        yield _sse(head | {"type": "transcript.text.done", "delta": "", "text": "".join(texts).strip()})
    yield b"data: [DONE]\n\n"


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _base64_audio(value: str | None) -> bytes:
    if value is None:
        raise MissingField("file")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidField("file_base64", "not valid base64") from exc
