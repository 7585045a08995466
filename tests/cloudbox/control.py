"""The box server's control channel: JSON over HTTP on a UNIX socket in the state directory.

Not on any network address, so nothing in a VM can reach it through the box's network (the
API and metadata servers are the only things the VMs can talk to). The CLI (`vms`, `stop`)
and tests (fault injection, the trail) use it from the host.
"""

from __future__ import annotations

import http.client
import json
import socket
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

Handler = Callable[[dict[str, Any]], Any]
SOCKET_NAME = "control.sock"


class ControlError(RuntimeError):
    pass


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def serve(path: Path, handlers: dict[str, Handler]) -> _Server:
    class Request(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            return

        def address_string(self) -> str:  # UNIX sockets have no peer address
            return "control"

        def do_POST(self) -> None:
            name = self.path.strip("/")
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            handler = handlers.get(name)
            if handler is None:
                status, answer = 404, {"error": f"unknown command {name!r}; known: {', '.join(sorted(handlers))}"}
            else:
                try:
                    status, answer = 200, {"result": handler(body)}
                except Exception as exc:  # reported to the caller, the server keeps running
                    status, answer = 500, {"error": f"{type(exc).__name__}: {exc}"}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    path.unlink(missing_ok=True)
    server = _Server(str(path), Request)
    path.chmod(0o600)
    threading.Thread(target=server.serve_forever, name="control", daemon=True).start()
    return server


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self._path))


def call(path: Path, command: str, body: dict[str, Any] | None = None, timeout_s: float = 60.0) -> Any:
    """Run `command` on the box server; its result, or ControlError with the server's message."""
    connection = _UnixConnection(path, timeout_s)
    try:
        connection.request("POST", f"/{command}", body=json.dumps(body or {}), headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = json.loads(response.read() or b"{}")
    except OSError as exc:
        raise ControlError(f"the box server does not answer on {path}: {exc}") from None
    finally:
        connection.close()
    if response.status != 200:
        raise ControlError(answer.get("error", f"HTTP {response.status}"))
    return answer.get("result")
