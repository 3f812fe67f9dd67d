"""The local blob store: atomic puts, limits that keep nothing, safe keys."""

from __future__ import annotations

import io

import pytest

from openmaas.errors import FileTooLarge
from openmaas.files.blobstore import LocalBlobStore


def test_put_open_delete(tmp_path):
    store = LocalBlobStore(tmp_path)
    info = store.put("acct/files/f1", io.BytesIO(b"hello"), limit=10, purpose="batch")
    assert info.size == 5 and len(info.sha256) == 64
    with store.open("acct/files/f1") as blob:
        assert blob.read() == b"hello"
    store.delete("acct/files/f1")
    store.delete("acct/files/f1")  # idempotent
    assert not store.exists("acct/files/f1")


def test_over_the_limit_keeps_nothing(tmp_path):
    store = LocalBlobStore(tmp_path)
    with pytest.raises(FileTooLarge):
        store.put("acct/files/big", io.BytesIO(b"x" * 11), limit=10, purpose="batch")
    assert not store.exists("acct/files/big")
    assert not [p for p in (tmp_path / "acct" / "files").iterdir()]  # no temp file left


@pytest.mark.parametrize("key", ["../etc/passwd", "a/../../b", "/abs", "a b"])
def test_unsafe_keys_are_refused(tmp_path, key):
    with pytest.raises(ValueError):
        LocalBlobStore(tmp_path).put(key, io.BytesIO(b""), limit=1, purpose="batch")
