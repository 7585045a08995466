"""The HTTP serving every test double of a cloud API shares: a threaded server on any host and
port, HTTP or HTTPS, that hands each request to one function and writes its reply.

Each fake (GCP's REST APIs, ARM, Blob, IMDS) only says what a request means; how requests
are read and replies written lives here once. Replies are written with one buffered write
and Nagle off: headers and body as separate small packets meet delayed ACKs and cost ~10 ms
a request.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # with its query string
    headers: dict[str, str]  # names lower-cased
    body: bytes
    client: str = ""  # the caller's address (who a metadata service answers for)


@dataclass
class HttpReply:
    status: int
    body: bytes | bytearray | memoryview = b""
    headers: dict[str, str] = field(default_factory=dict)


Responder = Callable[[HttpRequest], HttpReply]


class HttpFake:
    """Serves `respond` on host:port (port 0: any free one) until `stop`."""

    def __init__(self, respond: Responder, *, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.respond = respond
        self.host, self.port = host, port
        self.ssl_context = ssl_context
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> HttpFake:
        respond = self.respond

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            wbufsize = 1 << 16

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = respond(HttpRequest(self.command, self.path, headers, body, str(self.client_address[0])))
                self.send_response(reply.status)
                sent = {name.lower() for name in reply.headers}
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if "content-length" not in sent:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD" and reply.body:
                    self.wfile.write(reply.body)

        for method in METHODS:
            setattr(Handler, f"do_{method}", Handler._serve)
        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        if self.ssl_context is not None:
            # Handshakes happen in each connection's thread (on first read), not in accept().
            self._server.socket = self.ssl_context.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def shutdown(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def address(self) -> str:
        """host:port it listens on (IPv6 hosts in brackets)."""
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else str(host)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context is not None else 'http'}://{self.address}"


class ServedFake:
    """A fake served by an HttpFake in `_http`: stopping it and where it listens."""

    _http: HttpFake | None = None

    def _served(self) -> HttpFake:
        assert self._http is not None, "not started"
        return self._http

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()

    @property
    def address(self) -> str:
        """host:port it listens on (IPv6 hosts in brackets)."""
        return self._served().address

    @property
    def url(self) -> str:
        return self._served().url
