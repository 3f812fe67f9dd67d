"""Files: a blob store (local directory by default) and the per-account file metadata."""
