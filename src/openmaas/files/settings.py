"""File settings (`settings.files`): where blobs live, purposes, size limits, file types."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

MB = 1024 * 1024
KNOWN_PURPOSES = [
    "fine-tune",
    "retrieval",
    "batch",
    "code-interpreter",
    "agent",
    "voice-clone-input",
    "file-extract",
    "batch_output",
]  # batch_output: results
DOCUMENT_EXTENSIONS = [
    ".txt",
    ".md",
    ".markdown",
    ".pdf",
    ".docx",
    ".csv",
    ".html",
    ".htm",
    ".xlsx",
    ".pptx",
]  # scanned PDF pages are read through OCR


class FilesSettings(BaseModel):
    blob_dir: Path | None = None  # default: <data_dir>/blobs
    purposes: list[str] = Field(default_factory=lambda: list(KNOWN_PURPOSES))
    default_max_bytes: int = 100 * MB  # the documented limit (HTTP 435 beyond it)
    max_bytes_by_purpose: dict[str, int] = Field(default_factory=dict)
    extensions_by_purpose: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "batch": [".jsonl"],
            "fine-tune": [".jsonl"],
            "retrieval": list(DOCUMENT_EXTENSIONS),
        }
    )
    # Per-account caps over stored files (400, code 1214, param "file" past them). Files the
    # platform writes itself (batch results) count towards them but are never refused.
    max_files_per_account: int = Field(default=10_000, ge=1)
    max_bytes_per_account: int = Field(default=10 * 1024 * MB, ge=1)

    def limit_for(self, purpose: str) -> int:
        return self.max_bytes_by_purpose.get(purpose, self.default_max_bytes)

    @property
    def largest_limit(self) -> int:
        return max([self.default_max_bytes, *self.max_bytes_by_purpose.values()])
