"""`az://ACCOUNT/CONTAINER/PREFIX` storage through azure-storage-blob, signed in by azure-identity.

Credentials: `DefaultAzureCredential`, so on a VM its managed identity answers (IMDS;
`AZURE_CLIENT_ID` selects a user-assigned identity), and elsewhere a service principal from
AZURE_CLIENT_ID / AZURE_TENANT_ID / AZURE_CLIENT_SECRET, workload identity, or `az login`.
`AZURE_TOKEN_CREDENTIALS=ManagedIdentityCredential` narrows the chain to the one a node uses.

Endpoint: `https://{account}.blob.core.windows.net`, or the template in
`RLCLOUD_AZURE_BLOB_ENDPOINT`: a URL containing `{account}` (`https://{account}.blob.core.
usgovcloudapi.net`), or a base URL the account is appended to as a path (`https://10.0.0.5:
8443` -> `https://10.0.0.5:8443/ACCOUNT`, Azurite's path style). Bearer tokens go over HTTPS
only (azure-core refuses them over http); a private CA is trusted through REQUESTS_CA_BUNDLE.

Transfers are the SDK's: an object up to `chunk_bytes` is one Put Blob (atomic); a bigger one
is staged as `chunk_bytes` blocks in parallel and committed by Put Block List (atomic too). A
read is one ranged GET of the first `chunk_bytes`, then the rest in parallel ranged GETs
pinned to the first one's ETag.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from runtime.errors import StorageError
from runtime.storage.base import Buffer, ObjectStorage, one_line, parse_location

T = TypeVar("T")
MB = 1024 * 1024
ENDPOINT_ENV = "RLCLOUD_AZURE_BLOB_ENDPOINT"
DEFAULT_ENDPOINT = "https://{account}.blob.core.windows.net"
#: One request up to this size, blocks / ranges of it above. Bigger than the checkpoint
#: store's default part (16 MB), so a default part moves in one request each way.
DEFAULT_CHUNK_BYTES = 32 * MB

_AUTH_HINT = (
    "on an Azure VM its managed identity signs in (set AZURE_CLIENT_ID for a user-assigned one); "
    "elsewhere `az login`, or AZURE_CLIENT_ID / AZURE_TENANT_ID / AZURE_CLIENT_SECRET"
)


class _ViewWriter(io.RawIOBase):
    """A seekable stream over a memoryview: where the SDK's parallel download writes its
    ranges (it seeks to each range's offset), so they land in the checkpoint's buffer."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view = view.cast("B") if view.format != "B" else view
        self._position = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}[whence]
        self._position = base + offset
        return self._position

    def write(self, data: Any) -> int:
        chunk = memoryview(data).cast("B")
        end = self._position + len(chunk)
        if end > len(self._view):
            raise ValueError(f"the download is bigger than its buffer ({end} > {len(self._view)} bytes)")
        self._view[self._position : end] = chunk
        self._position = end
        return len(chunk)


def account_url(account: str) -> str:
    """The Blob endpoint of `account`: RLCLOUD_AZURE_BLOB_ENDPOINT's template, else Azure's."""
    template = os.environ.get(ENDPOINT_ENV, "").strip() or DEFAULT_ENDPOINT
    if "{account}" in template:
        return template.replace("{account}", account).rstrip("/")
    return f"{template.rstrip('/')}/{account}"


def _retry_policy() -> Any:
    """The SDK's exponential retry, shorter (its default waits 15 s, then 18 s, 24 s: too long
    to learn of a bad endpoint), and not retrying a credential that found no token: the
    managed identity credential has already retried IMDS itself, so a retry only waits."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.storage.blob import ExponentialRetry

    class Retry(ExponentialRetry):
        def increment(self, settings: Any, request: Any, response: Any = None, error: Any = None) -> bool:
            if isinstance(error, ClientAuthenticationError) and getattr(error, "status_code", None) is None:
                return False
            return bool(super().increment(settings, request, response=response, error=error))

    return Retry(initial_backoff=1, increment_base=2, retry_total=4, random_jitter_range=1)


def _credential_reason(message: str) -> str:
    """One line from DefaultAzureCredential's many: the managed identity's (what a node
    uses), else the first."""
    for line in message.splitlines():
        if line.strip().startswith("ManagedIdentityCredential:"):
            return line.strip()
    return one_line(message)


class AzureBlobStorage(ObjectStorage):
    def __init__(self, uri: str, *, max_connections: int = 16, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
        location = parse_location(uri, "az")
        assert location.account is not None and location.bucket is not None
        self.account, self.container_name, self.prefix, self.uri = location.account, location.bucket, location.prefix, location.uri
        self.endpoint = account_url(self.account)
        if not self.endpoint.startswith("https://"):
            raise StorageError(
                f"{ENDPOINT_ENV}={os.environ.get(ENDPOINT_ENV)!r} is not https://: Azure sends bearer tokens over TLS only",
                hint="serve the endpoint over HTTPS; trust a private CA with REQUESTS_CA_BUNDLE",
            )
        self.chunk_bytes = chunk_bytes
        self._concurrency = max(2, max_connections // 4)
        self._pool: ThreadPoolExecutor | None = None
        self.container = self._guard("cannot open", "", lambda: self._make_client(max_connections))

    def _make_client(self, max_connections: int) -> Any:
        import requests
        from azure.core.pipeline.transport import RequestsTransport
        from azure.identity import DefaultAzureCredential

        # The chain logs its failure as a WARNING of many lines; we raise it as one StorageError.
        logging.getLogger("azure.identity._credentials.chained").setLevel(logging.ERROR)
        from azure.storage.blob import ContainerClient
        from urllib3.util.retry import Retry

        # requests keeps 10 connections per host by default; parallel parts, each with its
        # own parallel blocks, want more. Retries are the SDK's policy, not urllib3's. A
        # transport we pass gets none of the storage SDK's transport defaults, so they are
        # given here: without its 256 KiB read blocks (azure-core's own is 4 KiB) a 16 MB
        # read runs at less than half the speed.
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(
            pool_connections=4, pool_maxsize=max_connections * 2, max_retries=Retry(total=False, redirect=False, raise_on_status=False)
        )
        for scheme in ("http://", "https://"):
            session.mount(scheme, adapter)
        return ContainerClient(
            account_url=self.endpoint,
            container_name=self.container_name,
            credential=DefaultAzureCredential(),
            transport=RequestsTransport(session=session, connection_timeout=20, read_timeout=60, connection_data_block_size=256 * 1024),
            retry_policy=_retry_policy(),
            max_single_put_size=self.chunk_bytes,
            max_block_size=self.chunk_bytes,
            max_single_get_size=self.chunk_bytes,
            max_chunk_get_size=self.chunk_bytes,
        )

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    # ------------------------------------------------------------------ errors

    def _hint(self, code: str) -> str | None:
        hints = {
            "ContainerNotFound": f"the container does not exist; create it (az storage container create --account-name {self.account} "
            f"--name {self.container_name} --auth-mode login)",
            "AuthorizationPermissionMismatch": "the node's identity has no role allowing this on the container; assign it "
            "`Storage Blob Data Contributor` on the container (AZURE_CLIENT_ID selects a user-assigned identity)",
            "AuthorizationFailure": "the account refused this identity (role, firewall or network rules); check its role assignments",
            "InvalidAuthenticationInfo": "the storage account did not accept the token; " + _AUTH_HINT,
            "NoAuthenticationInformation": "no token was sent; " + _AUTH_HINT,
            "AuthenticationFailed": "the storage account did not accept the credentials; " + _AUTH_HINT,
        }
        return hints.get(code)

    def _fail(self, action: str, key: str, exc: Exception) -> StorageError:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )

        where = f"{action} {self.url(key) if key else self.uri}"
        if isinstance(exc, HttpResponseError) and exc.status_code:
            error_code = getattr(exc, "error_code", None)  # set by the storage SDK's error mapping
            code = str(getattr(error_code, "value", error_code) or exc.reason or "")
            return StorageError(f"{where}: {exc.status_code} {code}: {one_line(exc.message)}", hint=self._hint(code))
        if isinstance(exc, ClientAuthenticationError):  # from the credential: no token at all
            return StorageError(f"{where}: no Azure token: {_credential_reason(str(exc.message))}", hint=_AUTH_HINT)
        if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
            return StorageError(
                f"{where}: cannot reach {self.endpoint}: {one_line(exc.message)}",
                hint=f"check network access to the storage account (and {ENDPOINT_ENV} / REQUESTS_CA_BUNDLE if set)",
            )
        return StorageError(f"{where}: {type(exc).__name__}: {one_line(exc)}")

    def _guard(self, action: str, key: str, fn: Callable[[], T]) -> T:
        from azure.core.exceptions import AzureError

        try:
            return fn()
        except AzureError as exc:
            raise self._fail(action, key, exc) from None

    # ------------------------------------------------------------------ the interface

    def put(self, key: str, data: Buffer) -> None:
        from azure.storage.blob import ContentSettings

        body = data if isinstance(data, bytes) else bytes(data)
        settings = ContentSettings(content_type="application/octet-stream")
        self._guard(
            "cannot write",
            key,
            lambda: self.container.upload_blob(
                self._key(key), body, length=len(body), overwrite=True, max_concurrency=self._concurrency, content_settings=settings
            ),
        )

    def get(self, key: str) -> bytes:
        return self._guard(
            "cannot read", key, lambda: bytes(self.container.download_blob(self._key(key), max_concurrency=self._concurrency).readall())
        )

    def get_into(self, key: str, target: memoryview) -> int:
        def read() -> int:
            downloader = self.container.download_blob(self._key(key), max_concurrency=self._concurrency)
            if downloader.size == len(target):
                downloader.readinto(_ViewWriter(target))
            return int(downloader.size)

        return self._guard("cannot read", key, read)

    def list(self, prefix: str = "") -> list[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        names = self._guard("cannot list", prefix, lambda: list(self.container.list_blob_names(name_starts_with=self._key(prefix))))
        return sorted(name[strip:] for name in names)

    def delete(self, keys: Iterable[str]) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        def remove(key: str) -> None:
            try:
                self.container.delete_blob(self._key(key))
            except ResourceNotFoundError as exc:
                error_code = getattr(exc, "error_code", None)
                if str(getattr(error_code, "value", error_code)) != "BlobNotFound":  # a missing container is an error
                    raise

        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._concurrency * 2, thread_name_prefix="blob-delete")
        list(self._pool.map(lambda key: self._guard("cannot delete", key, lambda: remove(key)), list(keys)))
