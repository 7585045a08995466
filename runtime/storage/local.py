"""`file://` storage: the local demo's checkpoints, with the same atomic-put promise as S3."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path

from runtime.errors import StorageError
from runtime.storage.base import Buffer, ObjectStorage

TMP_MARK = ".tmp-"


class LocalStorage(ObjectStorage):
    def __init__(self, uri: str, *, max_connections: int = 16) -> None:
        del max_connections  # one disk: nothing to pool
        path = uri.removeprefix("file://")
        if not path.startswith("/"):
            raise StorageError(f"file:// URIs need an absolute path; got {uri!r}")
        self.uri = uri.rstrip("/")
        self.root = Path(path)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create checkpoint directory {self.root}: {exc.strerror}") from None

    def _path(self, key: str) -> Path:
        return self.root / key

    def put(self, key: str, data: Buffer) -> None:
        final = self._path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f"{final.name}{TMP_MARK}{uuid.uuid4().hex[:8]}")
        # Write, flush to disk, then rename: the rename is the atomic step, and fsync first
        # means a manifest written after its data never points at bytes still in page cache.
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, final)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StorageError(f"{self.url(key)} does not exist") from None

    def list(self, prefix: str = "") -> list[str]:
        base = self._path(prefix) if prefix else self.root
        start = base if base.is_dir() else base.parent
        keys = []
        for dirpath, _dirs, files in os.walk(start):
            for name in files:
                if TMP_MARK in name:
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete(self, keys: Iterable[str]) -> None:
        parents = set()
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            parents.add(path.parent)
        # Remove directories the deletes emptied, deepest first, never the root itself.
        for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
            while parent != self.root and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
