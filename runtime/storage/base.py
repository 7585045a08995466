"""The storage interface and the URI -> backend switch."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

from runtime.errors import StorageError

Buffer = bytes | bytearray | memoryview


class ObjectStorage(ABC):
    """Whole objects under one root. Keys are relative, '/'-separated.

    A `put` is atomic: a reader sees the old object or the new one, never part of one (S3
    guarantees it; the local backend writes a temporary file and renames it).
    """

    uri: str

    @abstractmethod
    def put(self, key: str, data: Buffer) -> None: ...

    @abstractmethod
    def get(self, key: str) -> bytes: ...

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Every key under `prefix` (recursively), sorted."""

    @abstractmethod
    def delete(self, keys: Iterable[str]) -> None:
        """Delete keys; keys already gone are not an error."""

    def url(self, key: str) -> str:
        return f"{self.uri}/{key}"


def open_storage(uri: str, *, max_connections: int = 16) -> ObjectStorage:
    """The backend for `s3://bucket/prefix` or `file:///abs/path`."""
    if uri.startswith("s3://"):
        from runtime.storage.s3 import S3Storage

        return S3Storage(uri, max_connections=max_connections)
    if uri.startswith("file://"):
        from runtime.storage.local import LocalStorage

        return LocalStorage(uri)
    raise StorageError(f"unsupported storage URI {uri!r}; expected s3://BUCKET[/PREFIX] or file:///ABSOLUTE/PATH")
