"""The benches' way to a packaged model's file: as shipped, or one of its serving variants
(`openmaas models assemble` or `bench/engine_speed.py` derives them), never an unverified one."""

from __future__ import annotations

from pathlib import Path

from openmaas.catalog import variants, weights

PACKAGES = {"0.5b": "qwen2.5-coder-0.5b-instruct-q4_k_m", "1.5b": "qwen2.5-coder-1.5b-instruct-q4_k_m"}
VARIANT_HELP = "which file of the package: packaged (as shipped) or a variant's name, e.g. iq4_nl"


def model_file(models_dir: Path, model: str, variant: str = variants.PACKAGED) -> Path:
    """The file of `model` ("0.5b", "1.5b") in `variant`; SystemExit when it is not there."""
    package = weights.package_for(PACKAGES[model])
    if variant == variants.PACKAGED:
        return weights.assembled_path(models_dir, package)
    known = {v.name: v for v in package.variants}
    if variant not in known:
        raise SystemExit(f"{model}: no variant {variant!r} (known: {sorted(known)})")
    path = variants.variant_path(models_dir, package, known[variant])
    if not variants.is_verified(path, known[variant]):
        raise SystemExit(f"{path.name} is missing or not the pinned file: run bench/engine_speed.py")
    return path
