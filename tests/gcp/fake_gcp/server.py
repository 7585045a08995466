"""A small stateful fake of the Google REST endpoints rlcloud (and Ray's GCP provider) call,
served over HTTP on 127.0.0.1 so the real SDK clients talk to it unmodified.

- Keeps resources in memory (`world`), answers 404 / 409 / 400 in the APIs' own error shapes.
- Records every request (`calls`); `mutations()` are the ones that change something.
- `inject(failure, nth=N)` makes the N-th mutating request from now fail, before it takes
  effect (or after, with `after_apply=True`: the change happens but the caller sees an error,
  like a lost response).
- Compute operations are answered DONE at once: google-cloud-compute polls operations through
  a client built without our endpoint, so it must never need to poll.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.gcp.fake_gcp import compute, iam, storage
from tests.gcp.fake_gcp.errors import HttpFailure, OperationFailure
from tests.gcp.fake_gcp.routing import Handler, answer
from tests.gcp.fake_gcp.world import Request, Response, World

READ_ONLY_POSTS = (":getIamPolicy", ":testIamPermissions")


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    mutating: bool
    status: int = 0

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


@dataclass
class _Injection:
    failure: HttpFailure | OperationFailure
    remaining: int
    after_apply: bool


@dataclass
class FakeGcp:
    world: World = field(default_factory=World)
    calls: list[Call] = field(default_factory=list)
    _pending: list[_Injection] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _server: ThreadingHTTPServer | None = None
    routes: list[tuple[str, re.Pattern[str], Handler]] = field(default_factory=lambda: [*compute.ROUTES, *iam.ROUTES, *storage.ROUTES])

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "FakeGcp":
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body = fake.handle(self.command, self.path, raw)
                payload = b"" if status == 204 else json.dumps(body).encode()  # 204 carries no body
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    def env(self) -> dict[str, str]:
        """Environment that points rlcloud's clients (and its Ray node provider) here."""
        return {name: self.url for name in ("RLCLOUD_GCE_ENDPOINT", "RLCLOUD_IAM_ENDPOINT", "RLCLOUD_CRM_ENDPOINT", "RLCLOUD_GCS_ENDPOINT")}

    def reset(self) -> None:
        with self._lock:
            self.world = World()
            self.calls = []
            self._pending = []

    # ------------------------------------------------------------------ test controls
    def inject(self, failure: HttpFailure | OperationFailure, nth: int = 1, *, after_apply: bool = False) -> None:
        with self._lock:
            self._pending.append(_Injection(failure, nth, after_apply))

    def mutations(self, since: int = 0) -> list[Call]:
        return [c for c in self.calls[since:] if c.mutating]

    def mark(self) -> int:
        """Index to pass as `since`, to look at the calls of one command only."""
        return len(self.calls)

    # ------------------------------------------------------------------ dispatch
    def handle(self, method: str, raw_path: str, raw_body: bytes) -> Response:
        parsed = urllib.parse.urlsplit(raw_path)
        query = urllib.parse.parse_qs(parsed.query)
        body = json.loads(raw_body) if raw_body.strip() else None
        mutating = method != "GET" and not parsed.path.endswith(READ_ONLY_POSTS)
        with self._lock:
            call = Call(method, parsed.path, query, body, mutating)
            self.calls.append(call)
            try:
                status, answer = self._dispatch(method, parsed.path, query, body, mutating)
            except Exception as exc:  # a bug in the fake: say so instead of dropping the connection
                status, answer = 500, {"error": {"code": 500, "message": f"fake GCP bug: {type(exc).__name__}: {exc}", "status": "INTERNAL"}}
            call.status = status
            return status, answer

    def _dispatch(self, method: str, path: str, query: dict[str, list[str]], body: Any, mutating: bool) -> Response:
        for route_method, pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if route_method == method and match:
                request = Request(method, path, query, body, {k: urllib.parse.unquote(v) for k, v in match.groupdict().items() if v is not None})
                injection = self._due(mutating)
                if injection is None:
                    return handler(self.world, request)
                return self._fail(injection, handler, request)
        return 404, {"error": {"code": 404, "message": f"fake GCP: no route for {method} {path}", "status": "NOT_FOUND"}}

    def _due(self, mutating: bool) -> _Injection | None:
        if not mutating:
            return None
        due = None
        for injection in self._pending:
            injection.remaining -= 1
            if injection.remaining == 0 and due is None:
                due = injection
        self._pending = [i for i in self._pending if i.remaining > 0]
        return due

    def _fail(self, injection: _Injection, handler: Handler, request: Request) -> Response:
        failure = injection.failure
        if isinstance(failure, OperationFailure):
            if request.path.startswith("/compute/"):
                return 200, self.world.failed_operation(request, failure)
            failure = failure.as_http()
        if injection.after_apply:
            handler(self.world, request)
        return answer(failure)
