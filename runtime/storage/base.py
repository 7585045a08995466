"""The storage interface and the URI -> backend switch."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING

from runtime.errors import StorageError

if TYPE_CHECKING:
    from rlcloud_contract.storage_uri import StorageLocation

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

    def get_into(self, key: str, target: memoryview) -> int:
        """Read the object into `target` when it has exactly that size; returns the object's
        size either way (a caller expecting len(target) treats another size as corruption).
        This default copies what `get` returned; a backend that can write a download straight
        into memory overrides it, saving a copy per part on restore."""
        data = self.get(key)
        if len(data) == len(target):
            target[:] = data
        return len(data)

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Every key under `prefix` (recursively), sorted."""

    @abstractmethod
    def delete(self, keys: Iterable[str]) -> None:
        """Delete keys; keys already gone are not an error."""

    def url(self, key: str) -> str:
        return f"{self.uri}/{key}"


def parse_location(uri: str, scheme: str) -> StorageLocation:
    """`uri` parsed by the shared scheme rules (rlcloud_contract/storage_uri.py), as a StorageError."""
    from rlcloud_contract.storage_uri import parse_uri

    try:
        location = parse_uri(uri)
    except ValueError as exc:
        raise StorageError(f"bad storage URI {uri!r}: {exc}") from None
    if location.scheme != scheme:
        raise StorageError(f"{uri!r} is not a {scheme}:// URI")
    return location


def one_line(text: object) -> str:
    """The first non-empty line of an SDK's (often multi-line) error message."""
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


#: scheme -> "module:Class" of its backend; every scheme of rlcloud_contract/storage_uri.py has one.
#: Imported only when opened, so no cloud SDK is loaded for a scheme nobody uses.
BACKENDS = {
    "s3": "runtime.storage.s3:S3Storage",
    "gs": "runtime.storage.gcs:GcsStorage",
    "az": "runtime.storage.azure_blob:AzureBlobStorage",
    "file": "runtime.storage.local:LocalStorage",
}


def open_storage(uri: str, *, max_connections: int = 16) -> ObjectStorage:
    """The backend for a checkpoint URI (`s3://`, `gs://`, `az://` or `file://`)."""
    import importlib

    from rlcloud_contract.storage_uri import expected_shapes, scheme_of

    target = BACKENDS.get(scheme_of(uri)) if "://" in uri else None
    if target is None:
        raise StorageError(f"unsupported storage URI {uri!r}; expected {expected_shapes()}")
    module, _, name = target.partition(":")
    backend: type[ObjectStorage] = getattr(importlib.import_module(module), name)
    return backend(uri, max_connections=max_connections)  # type: ignore[call-arg]
