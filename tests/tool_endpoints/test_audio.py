"""Audio through the SDKs: speech from Debian's espeak-ng (Chinese and English), then that
speech transcribed. No ASR weights ship, so transcription goes to an upstream: here a
stand-in OpenAI-style upstream (httpx MockTransport) that checks it got real WAV audio."""

from __future__ import annotations

import io
import json
import math
import shutil
import wave

import httpx
import pytest

from openmaas.engines.upstream_tools import UpstreamToolClient
from openmaas.engines.whisper_local import whisper_installed
from tests.sdk._support import usage_rows, wait_for

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs Debian's espeak-ng")


def seconds_of(wav: bytes) -> float:
    with wave.open(io.BytesIO(wav)) as reader:
        return reader.getnframes() / reader.getframerate()


def test_zai_speech_wav_in_chinese_and_english(zai, tool_server, tenant):
    chinese = zai.audio.speech(
        model="glm-tts", input="你好，欢迎使用开放平台。", voice="tongtong", response_format="wav"
    )
    english = zai.audio.speech(
        model="glm-tts", input="Hello, welcome to the platform.", response_format="wav"
    )
    for answer in (chinese, english):
        assert answer.content[:4] == b"RIFF" and 1.0 < seconds_of(answer.content) < 10
    rows = wait_for(
        lambda: (
            len(
                r := usage_rows(tool_server.services, account_id=tenant.account_id, model="tool:audio_speech")
            )
            == 2
            and r
        )
    )
    assert all(row.completion_tokens >= 2 and row.cost_micro == row.completion_tokens * 500 for row in rows)


def test_zhipuai_speech_pcm_default_and_stream(zhipu, tool_server, tenant):
    pcm = zhipu.audio.speech(model="glm-tts", input="测试", encode_format="base64")
    assert pcm.content[:4] != b"RIFF" and len(pcm.content) > 10_000
    response = httpx.post(
        f"{tool_server.zhipu_base}/audio/speech",
        headers=tenant.headers,
        timeout=60,
        json={"model": "glm-tts", "input": "hello streaming world", "stream": True},
    )
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and len(chunks) >= 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "glm-tts", "input": ""}, "input"),
        ({"model": "glm-tts", "input": "x" * 1025}, "input"),
        ({"model": "glm-tts", "input": "hi", "speed": 3}, "speed"),
        ({"model": "glm-tts", "input": "hi", "response_format": "mp3"}, "response_format"),
    ],
)
def test_speech_bad_input(tool_server, tenant, body, field):
    response = httpx.post(f"{tool_server.zhipu_base}/audio/speech", headers=tenant.headers, json=body)
    assert response.status_code == 400 and field in response.json()["error"]["message"]


def test_transcription_without_engine_is_1211_and_non_audio_1214(zai, tool_server, tenant):
    speech = zai.audio.speech(model="glm-tts", input="one two three", response_format="wav").content
    url = f"{tool_server.zhipu_base}/audio/transcriptions"
    audio = tool_server.services.tools.audio
    local, audio._local_asr = audio._local_asr, None  # as on a server without the Whisper packages
    try:
        missing = httpx.post(
            url, headers=tenant.headers, files={"file": ("a.wav", speech)}, data={"model": "glm-asr-2512"}
        )
    finally:
        audio._local_asr = local
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "1211"
    assert "transcription" in missing.json()["error"]["message"]
    not_audio = httpx.post(
        url,
        headers=tenant.headers,
        files={"file": ("a.wav", b"just some text bytes")},
        data={"model": "glm-asr-2512"},
    )
    assert not_audio.status_code == 400 and "not WAV or MP3" in not_audio.json()["error"]["message"]
    too_long = httpx.post(
        url, headers=tenant.headers, files={"file": ("a.wav", long_wav(31))}, data={"model": "glm-asr-2512"}
    )
    assert too_long.status_code == 400 and "at most 30" in too_long.json()["error"]["message"]


def test_transcription_of_local_speech_through_an_upstream(zai, tool_server, tenant):
    received: list[bytes] = []

    def stand_in_upstream(request: httpx.Request) -> httpx.Response:
        body = request.read()
        received.append(body)
        assert b"RIFF" in body and b'name="model"' in body
        return httpx.Response(200, json={"text": "one two three"})

    audio = tool_server.services.tools.audio
    previous = audio._asr
    audio._asr = UpstreamToolClient(
        "http://asr.test", "whisper-1", None, 10, transport=httpx.MockTransport(stand_in_upstream)
    )
    try:
        speech = zai.audio.speech(model="glm-tts", input="one two three", response_format="wav").content
        answer = zai.audio.transcriptions.create(
            model="glm-asr-2512", file=("speech.wav", speech, "audio/wav")
        )
        assert answer.text == "one two three" and len(received) == 1
        rows = wait_for(
            lambda: usage_rows(
                tool_server.services, account_id=tenant.account_id, model="tool:audio_transcriptions"
            )
        )
        assert rows[0].completion_tokens == max(1, math.ceil(seconds_of(speech)))
    finally:
        audio._asr = previous


def long_wav(seconds: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(b"\x00\x00" * 8000 * seconds)
    return out.getvalue()


def test_speech_without_an_engine_is_1211(tool_server, tenant):
    audio = tool_server.services.tools.audio
    previous = audio.settings
    audio.settings = previous.model_copy(update={"tts_engine": "none"})
    try:
        response = httpx.post(
            f"{tool_server.zhipu_base}/audio/speech",
            headers=tenant.headers,
            json={"model": "glm-tts", "input": "hi"},
        )
        assert response.status_code == 400 and response.json()["error"]["code"] == "1211"
        assert "espeak-ng" in response.json()["error"]["message"]
    finally:
        audio.settings = previous


@pytest.mark.slow
@pytest.mark.skipif(not whisper_installed(), reason="needs the pinned Whisper base packages")
def test_local_whisper_transcribes_locally_synthesised_speech(zai, tool_server, tenant):
    """espeak-ng speaks, the packaged Whisper base (faster-whisper, offline) listens."""
    speech = zai.audio.speech(
        model="glm-tts", input="Please reset my password and call me tomorrow morning.", response_format="wav"
    ).content
    answer = zai.audio.transcriptions.create(model="glm-asr-2512", file=("speech.wav", speech, "audio/wav"))
    words = answer.text.lower()
    assert "password" in words and "tomorrow" in words, answer.text
