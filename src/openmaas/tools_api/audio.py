"""Audio: POST /audio/speech (local espeak-ng, Chinese and English voices) and POST
/audio/transcriptions: local Whisper base (engines/whisper_local.py, from two pinned PyPI
packages) or an upstream (`tools.audio.asr_upstream`); with neither, 1211.

Speech is billed per second produced, transcription per second of input audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import shutil
import tempfile
import threading
import uuid
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openmaas.auth.principal import Principal
from openmaas.cjk import HAN
from openmaas.concurrency import run_in_threadpool
from openmaas.engines.upstream_tools import UpstreamToolClient
from openmaas.engines.whisper_local import SAMPLE_RATE, LocalWhisperEngine
from openmaas.errors import FileTooLarge, InternalFailure, InvalidField, ModelNotFound
from openmaas.tools_api.errors import NoEngineConfigured
from openmaas.tools_api.metering import Meter, ToolMeter
from openmaas.tools_api.prices import SPEECH, TRANSCRIPTION
from openmaas.tools_api.settings import AudioSettings

ESPEAK_WPM = 175  # espeak-ng's default speaking rate (words per minute)
SPEECH_TIMEOUT_SECONDS = 60
ESPEAK_VOICES = frozenset({"cmn", "yue", "en", "en-us", "en-gb"})


@dataclass(frozen=True)
class Speech:
    request_id: str
    audio: bytes
    media_type: str
    seconds: float


@dataclass(frozen=True)
class Transcript:
    request_id: str
    model: str
    text: str
    seconds: float


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as reader:
        return reader.getnframes() / float(reader.getframerate())


def pcm_of(data: bytes) -> bytes:
    with wave.open(io.BytesIO(data)) as reader:
        return reader.readframes(reader.getnframes())


def audio_seconds(data: bytes, filename: str) -> float:
    """Duration of a WAV, estimated for an MP3; 1214 for anything that is not audio."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        try:
            return wav_seconds(data)
        except (wave.Error, EOFError, ZeroDivisionError) as exc:
            raise InvalidField("file", f"a broken WAV file ({exc})") from exc
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return len(data) * 8 / 128_000  # 128 kbit/s, the common rate: an estimate for the limit
    raise InvalidField("file", f"{filename or 'the upload'} is not WAV or MP3 audio")


def decode_audio(data: bytes) -> np.ndarray:
    """Mono float32 at 16 kHz: WAV read here (8/16/32-bit PCM), MP3 through faster-whisper's
    decoder; 1214 when it cannot be decoded."""
    if data[:4] == b"RIFF":
        try:
            with wave.open(io.BytesIO(data)) as reader:
                width, channels, rate = reader.getsampwidth(), reader.getnchannels(), reader.getframerate()
                frames = reader.readframes(reader.getnframes())
        except (wave.Error, EOFError) as exc:
            raise InvalidField("file", f"a broken WAV file ({exc})") from exc
        kinds = {1: (np.uint8, 128.0, 128.0), 2: (np.int16, 0.0, 32768.0), 4: (np.int32, 0.0, 2.0**31)}
        if width not in kinds:
            raise InvalidField("file", f"{8 * width}-bit WAV is not supported (8, 16 or 32-bit PCM)")
        dtype, offset, scale = kinds[width]
        samples = (np.frombuffer(frames, dtype=dtype).astype(np.float32) - offset) / scale
        mono = samples.reshape(-1, channels).mean(axis=1) if channels > 1 else samples
        return resample(mono, rate)
    try:
        from faster_whisper import decode_audio as decode_compressed

        return decode_compressed(io.BytesIO(data), sampling_rate=SAMPLE_RATE).astype(np.float32)
    except Exception as exc:  # av raises its own error types on undecodable input
        raise InvalidField("file", f"the audio could not be decoded ({type(exc).__name__})") from exc


def resample(samples: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE or not len(samples):
        return samples.astype(np.float32)
    count = max(1, int(len(samples) * SAMPLE_RATE / rate))
    positions = np.linspace(0, len(samples) - 1, count)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


class AudioService:
    def __init__(
        self,
        settings: AudioSettings,
        meter: ToolMeter,
        asr_upstream: UpstreamToolClient | None = None,
        asr_local: LocalWhisperEngine | None = None,
    ) -> None:
        self.settings = settings
        self._meter = meter
        self._asr = asr_upstream
        self._local_asr = asr_local

    @property
    def can_transcribe(self) -> bool:
        """An upstream or the local Whisper is there to listen (the console lists the models)."""
        return self._asr is not None or self._local_asr is not None

    # speech ------------------------------------------------------------------------------
    def espeak(self) -> str | None:
        if self.settings.tts_engine != "espeak-ng":
            return None
        return shutil.which(self.settings.espeak_binary)

    async def speak(
        self,
        principal: Principal,
        model: str,
        text: str,
        voice: str | None,
        response_format: str | None,
        speed: float | None,
        request_id: str | None = None,
    ) -> Speech:
        if model not in self.settings.tts_names:
            raise ModelNotFound(model)
        binary = self.espeak()
        if binary is None:
            raise NoEngineConfigured(
                model, "speech", "install Debian's espeak-ng (tools.audio.tts_engine = espeak-ng)"
            )
        fmt = (response_format or "wav").lower()
        if fmt not in ("wav", "pcm"):
            raise InvalidField("response_format", "wav or pcm")
        if not text or not text.strip():
            raise InvalidField("input", "must not be empty")
        if len(text) > self.settings.max_speech_chars:
            raise InvalidField("input", f"at most {self.settings.max_speech_chars} characters")
        rate = 1.0 if speed is None else speed
        if not 0.5 <= rate <= 2.0:
            raise InvalidField("speed", "0.5 to 2")
        bound = math.ceil(len(text) / rate) + 2  # ≥ a second per character: an upper bound
        async with self._meter.metered(principal, SPEECH, bound, "audio_speech", request_id) as meter:
            audio = await self._synthesise(binary, text, _voice(text, voice), int(ESPEAK_WPM * rate))
            seconds = wav_seconds(audio)
            meter.use(math.ceil(seconds))
        body = audio if fmt == "wav" else pcm_of(audio)
        return Speech(meter.request_id, body, "audio/wav" if fmt == "wav" else "audio/pcm", seconds)

    async def _synthesise(self, binary: str, text: str, voice: str, wpm: int) -> bytes:
        with tempfile.TemporaryDirectory(prefix="openmaas-tts-") as folder:
            target = Path(folder) / "speech.wav"
            process = await asyncio.create_subprocess_exec(
                binary,
                "-v",
                voice,
                "-s",
                str(wpm),
                "-w",
                str(target),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                _, errors = await asyncio.wait_for(process.communicate(text.encode()), SPEECH_TIMEOUT_SECONDS)
            except TimeoutError as exc:
                process.kill()
                await process.wait()
                raise InternalFailure("speech synthesis timed out") from exc
            if process.returncode != 0 or not target.is_file():
                raise InternalFailure(f"speech synthesis failed: {errors.decode(errors='replace')[:200]}")
            return target.read_bytes()

    # transcription -------------------------------------------------------------------------
    async def transcribe(
        self,
        principal: Principal,
        model: str,
        filename: str,
        data: bytes,
        prompt: str | None,
        request_id: str | None = None,
    ) -> Transcript:
        seconds = self._checked_seconds(model, filename, data, prompt)
        units = max(1, math.ceil(seconds))
        async with self._meter.metered(
            principal, TRANSCRIPTION, units, "audio_transcriptions", request_id
        ) as meter:
            if self._asr is not None:
                text = await self._asr.transcribe(model, filename or "audio.wav", data, prompt)
            else:
                engine = self._local_asr
                assert engine is not None  # checked by _checked_seconds
                samples = await run_in_threadpool(decode_audio, data)
                text = await run_in_threadpool(engine.transcribe, samples, prompt)
        return Transcript(meter.request_id or uuid.uuid4().hex, model, text, seconds)

    async def open_transcription_stream(
        self,
        principal: Principal,
        model: str,
        filename: str,
        data: bytes,
        prompt: str | None,
        request_id: str | None = None,
    ) -> TranscriptStream:
        """Checks the input and holds the funds now (so a bad file or an empty balance is an
        HTTP error, not an error event); the segments come from `TranscriptStream.pieces()`."""
        seconds = self._checked_seconds(model, filename, data, prompt)
        units = max(1, math.ceil(seconds))
        held = contextlib.AsyncExitStack()
        meter = await held.enter_async_context(
            self._meter.metered(principal, TRANSCRIPTION, units, "audio_transcriptions", request_id)
        )
        return TranscriptStream(self, held, meter, model, filename, data, prompt, seconds)

    def _checked_seconds(self, model: str, filename: str, data: bytes, prompt: str | None) -> float:
        """The audio's duration once model, size, length, prompt and an engine are checked."""
        if model not in self.settings.asr_names:
            raise ModelNotFound(model)
        if len(data) > self.settings.max_audio_bytes:
            raise FileTooLarge(self.settings.max_audio_bytes, "audio")
        if not data:
            raise InvalidField("file", "the file is empty")
        seconds = audio_seconds(data, filename)
        if seconds > self.settings.max_audio_seconds:
            raise InvalidField(
                "file", f"{seconds:.1f} s of audio; at most {self.settings.max_audio_seconds:g} s"
            )
        if prompt is not None and len(prompt) >= 8000:
            raise InvalidField("prompt", "fewer than 8000 characters")
        if self._asr is None and self._local_asr is None:
            raise NoEngineConfigured(
                model,
                "transcription",
                "install the pinned Whisper packages (tools.audio.asr_engine = whisper-local) "
                "or set tools.audio.asr_upstream",
            )
        return seconds

    async def segments(
        self, model: str, filename: str, data: bytes, prompt: str | None
    ) -> AsyncIterator[tuple[str, float]]:
        """(text, end second) per segment: the local engine's as it decodes them (a worker
        thread hands them over through a queue and stops when the reader goes away), an
        upstream's whole answer as one."""
        if self._asr is not None:
            text = await self._asr.transcribe(model, filename or "audio.wav", data, prompt)
            yield text, audio_seconds(data, filename)
            return
        engine = self._local_asr
        assert engine is not None  # checked by _checked_seconds
        samples = await run_in_threadpool(decode_audio, data)
        async for piece in _segments_of(engine, samples, prompt):
            yield piece

    async def close(self) -> None:
        if self._asr is not None:
            await self._asr.close()


class TranscriptStream:
    """One held, streamed transcription: `pieces()` yields segment texts and then settles
    the hold: all the audio's seconds when it ran to the end; when the reader left early,
    the seconds up to the last segment it was sent (at least one), never more than held."""

    def __init__(
        self,
        service: AudioService,
        held: contextlib.AsyncExitStack,
        meter: Meter,
        model: str,
        filename: str,
        data: bytes,
        prompt: str | None,
        seconds: float,
    ) -> None:
        self._service, self._held, self._meter = service, held, meter
        self._source = (model, filename, data, prompt)
        self.request_id = meter.request_id
        self.model = model
        self.seconds = seconds

    async def pieces(self) -> AsyncIterator[str]:
        delivered = 0.0
        try:
            async for text, end in self._service.segments(*self._source):
                yield text
                delivered = end
        except BaseException as exc:  # the reader went away (GeneratorExit, cancel) or it failed
            if isinstance(exc, (GeneratorExit, asyncio.CancelledError)) and delivered:
                self._meter.use(max(1, math.ceil(delivered)))
                await self._held.aclose()
            else:
                await self._held.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        await self._held.aclose()


async def _segments_of(
    engine: LocalWhisperEngine, samples: np.ndarray, prompt: str | None
) -> AsyncIterator[tuple[str, float]]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, float] | BaseException | None] = asyncio.Queue()
    wanted = threading.Event()
    wanted.set()

    def hand_over(text: str, end: float) -> bool:
        loop.call_soon_threadsafe(queue.put_nowait, (text, end))
        return wanted.is_set()

    def work() -> None:
        try:
            engine.transcribe_segments(samples, prompt, hand_over)
            loop.call_soon_threadsafe(queue.put_nowait, None)
        except BaseException as exc:  # handed to the reader, raised there
            loop.call_soon_threadsafe(queue.put_nowait, exc)

    worker = loop.run_in_executor(None, work)
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        wanted.clear()  # the decoder stops after its current segment; `work` ends on its own
        del worker


def _voice(text: str, voice: str | None) -> str:
    """espeak-ng's voice: Mandarin for Chinese text, English otherwise (platform voice names
    such as `tongtong` have no espeak equivalent; one of ESPEAK_VOICES may be named)."""
    if voice in ESPEAK_VOICES:
        return voice
    return "cmn" if HAN.search(text) else "en"
