"""Serving variants of the packaged GGUFs: the same weights re-quantized by llama.cpp's own
quantizer into a format its CPU kernels repack into interleaved GEMM layouts at load time
(IQ4_NL, Q4_0), which decodes faster on this kind of CPU than the packaged Q4_K_M file (mostly
Q5_0/Q8_0 rows there).

A variant is derived once at assembly (`openmaas models assemble`), from the verified packaged
file, and pinned like the packages: its size and sha256 are known, and a file that does not
match them is never served. A package's `preferred` variant is the one `bench/engine_speed.py`
measured as winning on speed and quality under the rule in the README; a model serves it
unless its config says `variant = "packaged"` (or names another variant). When the preferred
file is missing, unverified or fails to load, the packaged file is served and start-up says why.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from openmaas.catalog.weights import (
    CHUNK,
    DerivedVariant,
    WeightPackage,
    WeightsUnavailable,
    assembled_path,
    is_assembled,
)

log = logging.getLogger(__name__)
Progress = Callable[[int], None]  # called with bytes written since the last call
PACKAGED = "packaged"
VERIFIED_SUFFIX = ".verified"  # "<size> <mtime_ns> <sha256>" of the file as verified


def variant_path(models_dir: Path, package: WeightPackage, variant: DerivedVariant) -> Path:
    return models_dir / f"{Path(package.filename).stem}.{variant.name}.gguf"


def derive(
    models_dir: Path, package: WeightPackage, variant: DerivedVariant, progress: Progress | None = None
) -> Path:
    """Re-quantizes the assembled package into `variant`, verifies size + sha256, then moves
    it into place (a half-written or foreign output is deleted, never served)."""
    target = variant_path(models_dir, package, variant)
    if is_verified(target, variant):
        return target
    if not is_assembled(models_dir, package):
        raise WeightsUnavailable(f"{package.filename} is not assembled; run `openmaas models assemble`")
    partial = target.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with _reporting_growth(partial, progress):
        quantize(assembled_path(models_dir, package), partial, variant.ftype)
    digest = _sha256(partial)
    if partial.stat().st_size != variant.size or digest != variant.sha256:
        partial.unlink()
        raise WeightsUnavailable(
            f"{target.name}: llama.cpp's quantizer produced a file other than the pinned one "
            f"(sha256 {digest[:12]}…, pinned {variant.sha256[:12]}…); the packaged file is served"
        )
    os.replace(partial, target)
    _mark_verified(target, digest)
    return target


def is_verified(path: Path, variant: DerivedVariant) -> bool:
    """The file is the pinned one: its size, and its sha256 (hashed again only when the file
    changed since it was last verified, so a start-up does not hash a gigabyte each time)."""
    if not path.is_file() or path.stat().st_size != variant.size:
        return False
    marker = path.with_name(path.name + VERIFIED_SUFFIX)
    stat = path.stat()
    if marker.is_file() and marker.read_text().split() == [
        str(stat.st_size),
        str(stat.st_mtime_ns),
        variant.sha256,
    ]:
        return True
    digest = _sha256(path)
    if digest != variant.sha256:
        return False
    _mark_verified(path, digest)
    return True


def serving_choice(models_dir: Path, package: WeightPackage, wanted: str | None) -> tuple[Path, str]:
    """The file to serve and the variant's name: `wanted` (None: the package's preferred
    variant), or the packaged file, with a warning saying why, when that variant cannot be
    served."""
    packaged = assembled_path(models_dir, package)
    name = package.preferred if wanted is None else wanted
    if name is None or name == PACKAGED:
        return packaged, PACKAGED
    variant = next((v for v in package.variants if v.name == name), None)
    if variant is None:
        log.warning(
            "%s: no variant %r (known: %s); serving the packaged file",
            package.filename,
            name,
            [v.name for v in package.variants],
        )
        return packaged, PACKAGED
    path = variant_path(models_dir, package, variant)
    if not is_verified(path, variant):
        log.warning(
            "%s: the %s variant is %s; serving the packaged file (run `openmaas models assemble`)",
            package.filename,
            name,
            "missing" if not path.is_file() else "not the pinned file (corrupted?)",
        )
        return packaged, PACKAGED
    return path, name


def quantize(source: Path, target: Path, ftype: int) -> None:
    """llama.cpp's quantizer: `source` re-quantized into `target` as llama_ftype `ftype`."""
    import ctypes

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True  # the source is already quantized (Q4_K_M)
    params.nthread = os.cpu_count() or 1
    if llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params)) != 0:
        target.unlink(missing_ok=True)
        raise WeightsUnavailable(f"llama.cpp could not quantize {source.name}")


class _reporting_growth:
    """Reports a file's growth to `progress` while llama.cpp writes it (its quantizer has no
    progress callback; the ctypes call releases the GIL, so a thread can watch)."""

    def __init__(self, path: Path, progress: Progress | None) -> None:
        self._path, self._progress = path, progress
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._reported = 0

    def __enter__(self) -> None:
        if self._progress is not None:
            self._thread.start()

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()
        self._report()

    def _watch(self) -> None:
        while not self._done.wait(0.5):
            self._report()

    def _report(self) -> None:
        if self._progress is None:
            return
        size = self._path.stat().st_size if self._path.is_file() else self._reported
        if size > self._reported:
            self._progress(size - self._reported)
            self._reported = size


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _mark_verified(path: Path, digest: str) -> None:
    stat = path.stat()
    path.with_name(path.name + VERIFIED_SUFFIX).write_text(f"{stat.st_size} {stat.st_mtime_ns} {digest}\n")
