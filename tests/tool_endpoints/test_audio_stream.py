"""Streamed transcription (`stream=true`): GLM-ASR's `transcript.text.delta` events, one per
decoded segment, then `transcript.text.done`; the SDK's own stream parser reads them. A
reader who leaves early pays for the audio up to the last segment it was sent."""

from __future__ import annotations

import json
import math
import shutil
import threading
import time

import httpx
import pytest

from openmaas.engines.upstream_tools import UpstreamToolClient
from openmaas.engines.whisper_local import whisper_installed
from tests.conftest import add_tenant
from tests.sdk._support import usage_rows, wait_for
from tests.tool_endpoints.test_audio import long_wav

ASR = "glm-asr-2512"


class FakeSegmentEngine:
    """Unit-test stand-in for the local Whisper engine: one segment per 5 s of audio, each
    after `delay` seconds; records whether the reader stopped it early."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.stopped_early = threading.Event()
        self.finished = threading.Event()

    def transcribe_segments(self, audio, prompt, on_segment) -> None:
        seconds = len(audio) / 16_000
        for index in range(math.ceil(seconds / 5)):
            time.sleep(self.delay)
            if not on_segment(f" part {index + 1}.", min(seconds, 5.0 * (index + 1))):
                self.stopped_early.set()
                return
        self.finished.set()


@pytest.fixture
def local_engine(tool_server):
    audio = tool_server.services.tools.audio
    previous = audio._asr, audio._local_asr
    yield lambda engine: setattr(audio, "_local_asr", engine) or setattr(audio, "_asr", None)
    audio._asr, audio._local_asr = previous


def events(response: httpx.Response) -> list[dict]:
    return [
        json.loads(line[6:])
        for line in response.iter_lines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


def test_zai_sdk_streams_segments_then_done(zai, tool_server, tenant, local_engine):
    local_engine(FakeSegmentEngine())
    chunks = list(
        zai.audio.transcriptions.create(model=ASR, stream=True, file=("a.wav", long_wav(12), "audio/wav"))
    )
    kinds = [getattr(chunk, "type", None) for chunk in chunks]
    assert kinds == ["transcript.text.delta"] * 3 + ["transcript.text.done"]
    assert [chunk.delta for chunk in chunks[:3]] == [" part 1.", " part 2.", " part 3."]
    assert chunks[-1].text == "part 1. part 2. part 3."
    rows = wait_for(
        lambda: usage_rows(
            tool_server.services, account_id=tenant.account_id, model="tool:audio_transcriptions"
        )
    )
    assert rows[-1].completion_tokens == 12  # every second of the audio


def test_an_upstream_answer_streams_as_one_segment(tool_server, tenant):
    audio = tool_server.services.tools.audio
    previous = audio._asr
    audio._asr = UpstreamToolClient(
        "http://asr.test",
        "whisper-1",
        None,
        10,
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json={"text": "hello there"})),
    )
    try:
        with httpx.stream(
            "POST",
            f"{tool_server.zhipu_base}/audio/transcriptions",
            headers=tenant.headers,
            files={"file": ("a.wav", long_wav(2))},
            data={"model": ASR, "stream": "true"},
        ) as response:
            got = events(response)
    finally:
        audio._asr = previous
    assert [(e["type"], e["delta"]) for e in got] == [
        ("transcript.text.delta", "hello there"),
        ("transcript.text.done", ""),
    ]
    assert got[0]["model"] == ASR and got[0]["id"] == got[1]["id"] and got[1]["text"] == "hello there"


def test_a_reader_who_leaves_pays_up_to_the_last_segment_sent(tool_server, local_engine):
    payer = add_tenant(tool_server.services, "leaver")
    tool_server.services.billing.admin_credit("test-admin", payer.account_id, 1_000_000, "test")
    engine = FakeSegmentEngine(delay=0.4)
    local_engine(engine)
    with httpx.stream(
        "POST",
        f"{tool_server.zhipu_base}/audio/transcriptions",
        headers=payer.headers,
        files={"file": ("a.wav", long_wav(29))},
        data={"model": ASR, "stream": "true"},
        timeout=30,
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                assert json.loads(line[6:])["delta"] == " part 1."
                break  # leave after the first segment (its audio ends at 5 s)
    assert engine.stopped_early.wait(10) and not engine.finished.is_set()
    rows = wait_for(
        lambda: usage_rows(
            tool_server.services, account_id=payer.account_id, model="tool:audio_transcriptions"
        )
    )
    assert [row.completion_tokens for row in rows] in ([5], [10])  # not the 29 s held


def test_bad_stream_flags_and_files_are_errors_before_any_event(tool_server, tenant, local_engine):
    local_engine(FakeSegmentEngine())
    url = f"{tool_server.zhipu_base}/audio/transcriptions"
    bad_flag = httpx.post(
        url,
        headers=tenant.headers,
        files={"file": ("a.wav", long_wav(1))},
        data={"model": ASR, "stream": "maybe"},
    )
    assert bad_flag.status_code == 400 and "stream" in bad_flag.json()["error"]["message"]
    not_audio = httpx.post(
        url,
        headers=tenant.headers,
        files={"file": ("a.wav", b"text, not audio")},
        data={"model": ASR, "stream": "true"},
    )
    assert not_audio.status_code == 400 and not_audio.json()["error"]["code"] == "1214"
    broke = add_tenant(tool_server.services, "broke")  # nothing to hold: 1113 as an HTTP answer
    empty = httpx.post(
        url,
        headers=broke.headers,
        files={"file": ("a.wav", long_wav(1))},
        data={"model": ASR, "stream": "true"},
    )
    assert empty.status_code == 429 and empty.json()["error"]["code"] == "1113", empty.text


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("espeak-ng") is None or not whisper_installed(),
    reason="needs espeak-ng and the pinned Whisper base packages",
)
def test_local_whisper_streams_locally_synthesised_speech(zai, tool_server, tenant):
    speech = zai.audio.speech(
        model="glm-tts", input="Please reset my password and call me tomorrow.", response_format="wav"
    ).content
    chunks = list(
        zai.audio.transcriptions.create(model=ASR, stream=True, file=("speech.wav", speech, "audio/wav"))
    )
    assert chunks[-1].type == "transcript.text.done" and len(chunks) >= 2
    streamed = "".join(chunk.delta for chunk in chunks[:-1]).lower()
    assert "password" in streamed and "tomorrow" in streamed and "password" in chunks[-1].text.lower()
