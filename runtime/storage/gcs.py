"""`gs://BUCKET/PREFIX` storage through google-cloud-storage.

Credentials and endpoint come from the SDK's own places, so a node configured by its
environment needs nothing from us:
- credentials: Application Default Credentials (on a GCE node, the metadata server's token
  for the VM's service account; `GCE_METADATA_HOST` points google-auth at another metadata
  server; `GOOGLE_APPLICATION_CREDENTIALS` names a key or authorized-user file);
- endpoint: `STORAGE_EMULATOR_HOST` (an emulator: anonymous, no credentials looked up) or
  `API_ENDPOINT_OVERRIDE` (another endpoint, still with the credentials above).

Transfers: a put of up to 8 MiB is one multipart upload, a bigger one a resumable upload
(the SDK's choice) in `chunk_bytes` chunks; an object written is visible only once complete.
A get reads the first `chunk_bytes` with one ranged GET; a bigger object's other ranges are
then read in parallel, pinned to the generation the first read saw, and the whole object is
checked against its CRC32C (Cloud Storage sends it with every read).
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from runtime.errors import StorageError
from runtime.storage.base import Buffer, ObjectStorage, one_line, parse_location

T = TypeVar("T")
MB = 1024 * 1024
#: Ranged-read and resumable-chunk size. Bigger than the checkpoint store's default part
#: (16 MB), so a default part is one request each way; bigger parts are split.
DEFAULT_CHUNK_BYTES = 32 * MB
UPLOAD_CHUNK_UNIT = 256 * 1024  # resumable chunks must be multiples of 256 KiB
RETRY_SECONDS = 60.0  # the SDK retries 429/5xx/connection errors; give up after this long

# (HTTP status, a word in the message) -> what to tell a person.
_HINTS = {
    (
        404,
        "specified bucket does not exist",
    ): "the bucket does not exist; `rlcloud up` creates it for GCP specs with create_bucket: true, or create it",
    (403, ""): "the node's service account may not use this bucket/prefix; check the bucket's IAM bindings "
    "(rlcloud grants roles/storage.objectUser on the checkpoint prefix)",
    (401, ""): "the Google credentials were refused; on a node check its service account, elsewhere run `gcloud auth application-default login`",
}
_AUTH_HINT = (
    "no usable Google credentials: on GCE the VM's service account (metadata server); elsewhere "
    "`gcloud auth application-default login` or GOOGLE_APPLICATION_CREDENTIALS"
)
_NETWORK_HINT = "check network access to Cloud Storage (and STORAGE_EMULATOR_HOST / API_ENDPOINT_OVERRIDE if set)"


_REQUEST_PREFIX = re.compile(r"^[A-Z]+ https?://\S+: ")


def _api_error(exc: Any) -> tuple[str, str]:
    """(reason, message) as the service said them: from the JSON body when there is one
    (upload errors carry only the raw body), else from api_core's parse of it."""
    response = getattr(exc, "response", None)
    try:
        body = response.json() if response is not None else None
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        errors = error.get("errors") or [{}]
        return str(errors[0].get("reason", "")), one_line(error["message"])
    errors = exc.errors or []
    reason = errors[0].get("reason", "") if errors and isinstance(errors[0], dict) else ""
    return reason, _REQUEST_PREFIX.sub("", one_line(exc.message))


def _crc32c(data: Buffer) -> str:
    import google_crc32c

    return base64.b64encode(struct.pack(">I", google_crc32c.value(bytes(data) if not isinstance(data, bytes) else data))).decode()


class GcsStorage(ObjectStorage):
    def __init__(self, uri: str, *, max_connections: int = 16, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
        location = parse_location(uri, "gs")
        if chunk_bytes <= 0 or chunk_bytes % UPLOAD_CHUNK_UNIT:
            raise StorageError(f"chunk_bytes must be a positive multiple of 256 KiB; got {chunk_bytes}")
        assert location.bucket is not None
        self.bucket_name, self.prefix, self.uri = location.bucket, location.prefix, location.uri
        self.chunk_bytes = chunk_bytes
        self._range_workers = max(2, max_connections // 4)
        self._pool: ThreadPoolExecutor | None = None
        self.client = self._guard("cannot open", "", lambda: self._make_client(max_connections + self._range_workers))
        self.bucket = self.client.bucket(self.bucket_name)

    @staticmethod
    def _make_client(pool_size: int) -> Any:
        import requests
        from google.cloud import storage  # type: ignore[attr-defined, import-untyped]

        client = storage.Client(project=None)  # objects of an existing bucket need no project
        # The SDK's documented way to size its connection pool (requests keeps 10 by default).
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
        for scheme in ("http://", "https://"):
            client._http.mount(scheme, adapter)
        return client

    @staticmethod
    def _retry() -> Any:
        from google.cloud.storage.retry import DEFAULT_RETRY  # type: ignore[import-untyped]

        return DEFAULT_RETRY.with_timeout(RETRY_SECONDS)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    # ------------------------------------------------------------------ errors

    def _fail(self, action: str, key: str, exc: Exception) -> StorageError:
        from google.api_core.exceptions import GoogleAPICallError
        from google.auth.exceptions import GoogleAuthError, TransportError

        where = f"{action} {self.url(key) if key else self.uri}"
        if isinstance(exc, GoogleAPICallError):
            status = int(exc.code or 0)
            reason, message = _api_error(exc)
            hint = next((h for (code, word), h in _HINTS.items() if code == status and word in message.lower()), None)
            return StorageError(f"{where}: {status} {reason or type(exc).__name__}: {message}", hint=hint)
        if isinstance(exc, TransportError):
            return StorageError(f"{where}: cannot reach the credentials' token service: {one_line(exc)}", hint=_AUTH_HINT)
        if isinstance(exc, GoogleAuthError):
            said = exc.args[0] if exc.args and isinstance(exc.args[0], str) else exc  # RefreshError: (message, body)
            return StorageError(f"{where}: {type(exc).__name__}: {one_line(said)}", hint=_AUTH_HINT)
        return StorageError(f"{where}: {type(exc).__name__}: {one_line(exc)}", hint=_NETWORK_HINT)

    def _guard(self, action: str, key: str, fn: Callable[[], T]) -> T:
        import requests
        from google.api_core.exceptions import GoogleAPICallError, RetryError
        from google.auth.exceptions import GoogleAuthError
        from google.cloud.storage.exceptions import DataCorruption, InvalidResponse  # type: ignore[import-untyped]

        try:
            return fn()
        except RetryError as exc:
            raise self._fail(action, key, exc.cause if isinstance(exc.cause, Exception) else exc) from None
        except (GoogleAPICallError, GoogleAuthError, requests.RequestException, InvalidResponse, DataCorruption, ConnectionError) as exc:
            raise self._fail(action, key, exc) from None

    # ------------------------------------------------------------------ the interface

    def put(self, key: str, data: Buffer) -> None:
        body = data if isinstance(data, bytes) else bytes(data)
        blob = self.bucket.blob(self._key(key), chunk_size=self.chunk_bytes)

        def upload() -> None:
            import io

            blob.upload_from_file(io.BytesIO(body), size=len(body), content_type="application/octet-stream", retry=self._retry())

        self._guard("cannot write", key, upload)

    def get(self, key: str) -> bytes:
        return self._guard("cannot read", key, lambda: self._get(key))

    def _get(self, key: str) -> bytes:
        from google.api_core.exceptions import RequestRangeNotSatisfiable

        name = self._key(key)
        blob = self.bucket.blob(name)
        read: dict[str, Any] = {"raw_download": True, "checksum": None, "single_shot_download": True, "retry": self._retry()}
        try:
            head = blob.download_as_bytes(start=0, end=self.chunk_bytes - 1, **read)
        except RequestRangeNotSatisfiable:  # an empty object has no byte 0
            return bytes(blob.download_as_bytes(raw_download=True, retry=self._retry()))
        generation, expected = blob.generation, blob.crc32c  # from this read's headers
        if len(head) < self.chunk_bytes:
            return self._verified(key, head, expected)
        pinned = self.bucket.blob(name, generation=generation)
        pinned.reload(retry=self._retry())
        size = int(pinned.size)
        starts = range(self.chunk_bytes, size, self.chunk_bytes)

        def fetch(start: int) -> bytes:
            return bytes(pinned.download_as_bytes(start=start, end=min(start + self.chunk_bytes, size) - 1, **read))

        rest = list(self._executor().map(fetch, starts))
        return self._verified(key, b"".join([head, *rest]), expected or pinned.crc32c)

    def _verified(self, key: str, data: bytes, expected: str | None) -> bytes:
        if expected and _crc32c(data) != expected:
            raise StorageError(f"cannot read {self.url(key)}: the bytes read do not match the object's CRC32C", hint=_NETWORK_HINT)
        return data

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._range_workers, thread_name_prefix="gcs-range")
        return self._pool

    def list(self, prefix: str = "") -> list[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0

        def names() -> list[str]:
            found = self.client.list_blobs(self.bucket_name, prefix=self._key(prefix), fields="items(name),nextPageToken", retry=self._retry())
            return [blob.name[strip:] for blob in found]

        return sorted(self._guard("cannot list", prefix, names))

    def delete(self, keys: Iterable[str]) -> None:
        from google.api_core.exceptions import NotFound

        def remove(key: str) -> None:
            try:
                self.bucket.delete_blob(self._key(key), retry=self._retry())
            except NotFound as exc:
                if "specified bucket does not exist" in str(exc.message):  # the bucket is missing, not just the key
                    raise

        list(self._executor().map(lambda key: self._guard("cannot delete", key, lambda: remove(key)), list(keys)))
