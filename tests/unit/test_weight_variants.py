"""Serving variants of packaged weights: derived once, pinned by sha256, never served when
they are not the pinned file (the packaged file is, and the log says why).

The quantizer is replaced by `fake_quantizer` (writes chosen bytes): llama.cpp's real one
takes minutes on the real weights, which tests/engines/test_weight_variant_real.py covers."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pytest

from openmaas.catalog import variants
from openmaas.catalog.weights import DerivedVariant, WeightPackage, WeightsUnavailable

GOOD_BYTES = b"GGUF derived bytes " * 1000


def package_with(preferred: str | None, data: bytes = GOOD_BYTES) -> WeightPackage:
    variant = DerivedVariant("iq4_nl", 25, len(data), hashlib.sha256(data).hexdigest())
    return WeightPackage("m.gguf", (), size=7, sha256="x", variants=(variant,), preferred=preferred)


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    (tmp_path / "m.gguf").write_bytes(b"packed!")  # 7 bytes: "assembled"
    return tmp_path


@pytest.fixture
def fake_quantizer(monkeypatch):
    written = {"bytes": GOOD_BYTES}

    def quantize(source: Path, target: Path, ftype: int) -> None:
        assert source.name == "m.gguf" and ftype == 25
        target.write_bytes(written["bytes"])

    monkeypatch.setattr(variants, "quantize", quantize)
    return written


def test_without_a_preferred_variant_the_packaged_file_is_served(models_dir):
    served = variants.serving_choice(models_dir, package_with(None), None)
    assert served == (models_dir / "m.gguf", "packaged")


def test_a_missing_variant_falls_back_to_the_packaged_file_and_says_so(models_dir, caplog):
    with caplog.at_level(logging.WARNING):
        path, name = variants.serving_choice(models_dir, package_with("iq4_nl"), None)
    assert (path.name, name) == ("m.gguf", "packaged")
    assert "iq4_nl variant is missing" in caplog.text and "openmaas models assemble" in caplog.text


def test_derived_then_served_and_verified_once(models_dir, fake_quantizer, monkeypatch):
    package = package_with("iq4_nl")
    reported: list[int] = []
    path = variants.derive(models_dir, package, package.variants[0], reported.append)
    assert path.read_bytes() == GOOD_BYTES and sum(reported) == len(GOOD_BYTES)
    assert not list(models_dir.glob("*.partial"))
    hashed: list[Path] = []
    real_sha = variants._sha256
    monkeypatch.setattr(variants, "_sha256", lambda p: hashed.append(p) or real_sha(p))
    assert variants.serving_choice(models_dir, package, None) == (path, "iq4_nl")
    assert hashed == []  # the marker written at derivation vouches for the unchanged file


def test_a_corrupted_variant_of_the_right_size_is_not_served(models_dir, fake_quantizer, caplog):
    package = package_with("iq4_nl")
    path = variants.derive(models_dir, package, package.variants[0])
    flipped = bytearray(path.read_bytes())
    flipped[100] ^= 0xFF
    path.write_bytes(bytes(flipped))
    os.utime(path, ns=(1, 1))  # a changed file: the marker no longer vouches for it
    with caplog.at_level(logging.WARNING):
        assert variants.serving_choice(models_dir, package, None)[1] == "packaged"
    assert "not the pinned file" in caplog.text


def test_a_quantizer_output_other_than_the_pinned_one_is_deleted(models_dir, fake_quantizer):
    fake_quantizer["bytes"] = b"x" * len(GOOD_BYTES)  # same size, other content
    package = package_with("iq4_nl")
    with pytest.raises(WeightsUnavailable, match="other than the pinned one"):
        variants.derive(models_dir, package, package.variants[0])
    assert sorted(p.name for p in models_dir.iterdir()) == ["m.gguf"]


def test_deriving_needs_the_assembled_package(tmp_path, fake_quantizer):
    package = package_with("iq4_nl")
    with pytest.raises(WeightsUnavailable, match="not assembled"):
        variants.derive(tmp_path, package, package.variants[0])


def test_config_can_ask_for_the_packaged_file_or_an_unknown_variant(models_dir, fake_quantizer, caplog):
    package = package_with("iq4_nl")
    variants.derive(models_dir, package, package.variants[0])
    assert variants.serving_choice(models_dir, package, "packaged")[1] == "packaged"
    with caplog.at_level(logging.WARNING):
        assert variants.serving_choice(models_dir, package, "q2_k")[1] == "packaged"
    assert "no variant 'q2_k'" in caplog.text
