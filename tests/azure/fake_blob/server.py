"""The fake Blob service as an HTTP(S) server the real azure-storage-blob SDK talks to.

- Listens on any `host`/`port` (default 127.0.0.1 and a free port): nothing in the logic
  assumes loopback, so it can be served from inside a network namespace.
- HTTPS by default, with a CA and certificate made at start (tests/support/tls.py) for `host`, the
  `names` given, localhost and `*.blob.core.windows.net`; or pass your own `ssl_context`, or
  `tls=False` for plain HTTP (azure-core sends no bearer token over http).
- Addressing: host-style (`https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB`, when the
  Host header ends in one of `host_suffixes`) or path-style (`https://HOST:PORT/ACCOUNT/
  CONTAINER/BLOB`, what the SDK does for any other host, like Azurite).
- Every request is recorded (`calls`: method, account, container, blob, query, the range asked,
  the body's size, the answer's status) for tests to assert on.
- Echoes `x-ms-client-request-id`, which the SDK checks.

Point a client at it with `env()`: RLCLOUD_AZURE_BLOB_ENDPOINT (rlcloud's account URL
template) and REQUESTS_CA_BUNDLE (so requests, under azure-core, trusts its CA).
"""

from __future__ import annotations

import ssl
import tempfile
import traceback
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.azure.fake_blob.api import BlobRequest, BlobResponse, error, handle
from tests.azure.fake_blob.world import BlobWorld, http_date
from tests.support.http_fake import HttpFake, HttpReply, HttpRequest, ServedFake
from tests.support.tls import TlsFiles, make_tls_files

HOST_SUFFIXES = (".blob.core.windows.net",)


@dataclass
class Call:
    method: str
    account: str
    container: str | None
    blob: str | None
    query: dict[str, str]
    range: str | None
    size: int
    status: int = 0

    def __str__(self) -> str:
        return f"{self.method} {self.account}/{self.container or ''}/{self.blob or ''} {self.query} -> {self.status}"


class FakeBlobService(ServedFake):
    def __init__(
        self,
        world: BlobWorld | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        names: tuple[str, ...] = (),
        host_suffixes: tuple[str, ...] = HOST_SUFFIXES,
    ) -> None:
        self.world = world or BlobWorld()
        self.host, self.port = host, port
        self.tls = tls or ssl_context is not None
        self._ssl_context = ssl_context
        self._names = names
        self.host_suffixes = host_suffixes
        self.tls_files: TlsFiles | None = None
        self.calls: list[Call] = []
        self.bugs: list[str] = []  # exceptions inside the fake; tests fail on any
        self._http: HttpFake | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeBlobService:
        context = (self._ssl_context or self._make_tls()) if self.tls else None
        self._http = HttpFake(self._reply, host=self.host, port=self.port, ssl_context=context).start()
        return self

    def _reply(self, request: HttpRequest) -> HttpReply:
        headers = request.headers
        response = self.handle(request.method, request.path, headers, request.body)
        common = {"x-ms-request-id": str(uuid.uuid4()), "x-ms-version": headers.get("x-ms-version", "2025-01-05"), "Date": http_date()}
        if headers.get("x-ms-client-request-id"):
            common["x-ms-client-request-id"] = headers["x-ms-client-request-id"]
        return HttpReply(response.status, response.body, {**common, **response.headers})

    def _make_tls(self) -> ssl.SSLContext:
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-blob-tls-")
        names = [self.host, *self._names, "localhost", "127.0.0.1", *(f"*{suffix}" for suffix in self.host_suffixes)]
        if self.host in ("0.0.0.0", "::", ""):
            names = names[1:]
        self.tls_files = make_tls_files(Path(self._tmp.name), names)
        return self.tls_files.server_context()

    def stop(self) -> None:
        super().stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def reset(self) -> None:
        with self.world.lock:
            self.world.__init__()  # type: ignore[misc]
        self.calls.clear()
        self.bugs.clear()

    # ------------------------------------------------------------------ addresses
    @property
    def endpoint_template(self) -> str:
        """The account URL template, path-style: `https://HOST:PORT/{account}`."""
        return f"{self.url}/{{account}}"

    @property
    def ca_file(self) -> str | None:
        return str(self.tls_files.ca_file) if self.tls_files else None

    def env(self) -> dict[str, str]:
        found = {"RLCLOUD_AZURE_BLOB_ENDPOINT": self.endpoint_template}
        if self.ca_file:
            found["REQUESTS_CA_BUNDLE"] = self.ca_file
        return found

    # ------------------------------------------------------------------ dispatch
    def _locate(self, host_header: str, path: str) -> tuple[str, list[str], str]:
        """(account, the path's segments after it, the account's URL as the caller sees it)."""
        host = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
        segments = [urllib.parse.unquote(s) for s in path.lstrip("/").split("/")] if path.strip("/") else []
        scheme = "https" if self.tls else "http"
        suffix = next((s for s in self.host_suffixes if host.endswith(s)), None)
        if suffix:
            account = host[: -len(suffix)]
            return account, segments, f"{scheme}://{host_header}"
        account = segments[0] if segments else ""
        return account, segments[1:], f"{scheme}://{host_header}/{account}"

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> BlobResponse:
        parsed = urllib.parse.urlsplit(raw_path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
        account, rest, account_url = self._locate(headers.get("host", self.address), parsed.path)
        container = rest[0] if rest and rest[0] else None
        blob = "/".join(rest[1:]) or None
        call = Call(method, account, container, blob, query, headers.get("x-ms-range") or headers.get("range"), len(body))
        self.calls.append(call)
        request = BlobRequest(method, account, container, blob, query, headers, body, account_url)
        try:
            response = handle(self.world, request)
        except Exception as exc:
            self.bugs.append("".join(traceback.format_exception(exc)))
            response = error(500, "InternalError", f"fake Blob service bug: {type(exc).__name__}: {exc}")
        call.status = response.status
        return response
