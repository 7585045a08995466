"""A small stateful fake of the Google REST endpoints rlcloud (and Ray's GCP provider) call,
served over HTTP on 127.0.0.1 so the real SDK clients talk to it unmodified.

- Keeps resources in memory (`world`), answers 404 / 409 / 400 in the APIs' own error shapes.
- Records every request (`calls`); `mutations()` are the ones that change something.
- `inject(failure, nth=N)` makes the N-th mutating request from now fail, before it takes
  effect (or after, with `after_apply=True`: the change happens but the caller sees an error,
  like a lost response).
- Compute operations are answered DONE at once: google-cloud-compute polls operations through
  a client built without our endpoint, so it must never need to poll.
- Cloud Storage objects carry their bytes (uploads, ranged downloads: `objects.py`), and
  bearer tokens the World issued are checked against bucket IAM (`oauth.py`). The storage
  SDK reaches it with `STORAGE_EMULATOR_HOST` (anonymous) or `API_ENDPOINT_OVERRIDE` (with
  credentials, e.g. an `authorized_user` file whose `token_uri` is `{url}/token`).
- Serves on any `host`/`port` (default 127.0.0.1, a free port); answers name the address
  the caller reached (its Host header), so session and media URLs work from anywhere.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from tests.gcp.fake_gcp import access, compute, iam, oauth, objects, storage
from tests.gcp.fake_gcp.errors import HttpFailure, OperationFailure
from tests.gcp.fake_gcp.routing import Handler, answer
from tests.gcp.fake_gcp.world import Media, Reply, Request, World
from tests.support.http_fake import HttpFake, HttpReply, HttpRequest, ServedFake

READ_ONLY_POSTS = (":getIamPolicy", ":testIamPermissions", "/token")
#: Request headers kept in `Call.headers` (the ones tests look at).
RECORDED_HEADERS = ("range", "content-range", "content-type", "x-upload-content-length")


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any  # the JSON body; None for uploads (their size is `size`)
    mutating: bool
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    size: int = 0
    member: str = ""  # who the bearer token acts for ("" anonymous; "?" a token the fake did not issue)
    source: str = ""  # the caller's address
    time: float = 0.0

    def record(self) -> dict[str, Any]:
        """What the cloud box's trail shows of a call."""
        return {
            "time": self.time,
            "member": self.member,
            "source": self.source,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "size": self.size,
        }

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


@dataclass
class _Injection:
    failure: HttpFailure | OperationFailure
    remaining: int
    after_apply: bool


@dataclass
class FakeGcp(ServedFake):
    world: World = field(default_factory=World)
    calls: list[Call] = field(default_factory=list)
    _pending: list[_Injection] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _http: HttpFake | None = None
    routes: list[tuple[str, re.Pattern[str], Handler]] = field(
        default_factory=lambda: [
            *compute.ROUTES,
            *iam.ROUTES,
            *storage.ROUTES,
            *objects.ROUTES,
            *objects.UPLOAD_ROUTES,
            *objects.DOWNLOAD_ROUTES,
            *oauth.ROUTES,
        ]
    )
    host: str = "127.0.0.1"
    port: int = 0
    ssl_context: ssl.SSLContext | None = None  # HTTPS, as the real endpoints (the cloud box)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeGcp:
        self._http = HttpFake(self._reply, host=self.host, port=self.port, ssl_context=self.ssl_context).start()
        return self

    def _reply(self, request: HttpRequest) -> HttpReply:
        scheme = "https" if self.ssl_context is not None else "http"
        base = f"{scheme}://{request.headers.get('host') or self.address}"
        reply = self.handle(request.method, request.path, request.body, request.headers, base, source=request.client)
        if isinstance(reply, Media):
            return HttpReply(reply.status, reply.data, {"Content-Type": reply.content_type, **reply.headers})
        status, body = reply
        payload = b"" if status == 204 else json.dumps(body).encode()  # 204 carries no body
        return HttpReply(status, payload, {"Content-Type": "application/json; charset=UTF-8"})

    def env(self) -> dict[str, str]:
        """Environment that points rlcloud's clients (and its Ray node provider) here."""
        return {name: self.url for name in ("RLCLOUD_GCE_ENDPOINT", "RLCLOUD_IAM_ENDPOINT", "RLCLOUD_CRM_ENDPOINT", "RLCLOUD_GCS_ENDPOINT")}

    def storage_env(self) -> dict[str, str]:
        """Environment that points google-cloud-storage itself (the runtime's gs:// backend)
        here in emulator mode: anonymous, so objects are not checked against bucket IAM. For
        IAM-checked access set API_ENDPOINT_OVERRIDE to `url` and give the SDK credentials
        whose tokens the World issued (`oauth.service_account_key`, `World.issue_token`)."""
        return {"STORAGE_EMULATOR_HOST": self.url}

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
    def handle(
        self, method: str, raw_path: str, raw_body: bytes, headers: dict[str, str] | None = None, base_url: str = "", source: str = ""
    ) -> Reply:
        """Answer one request; `headers` with lowercased names, `base_url` what the caller reached."""
        headers = headers or {}
        parsed = urllib.parse.urlsplit(raw_path)
        query = urllib.parse.parse_qs(parsed.query)
        body = _json_body(raw_body, headers.get("content-type", ""))
        mutating = method != "GET" and not parsed.path.endswith(READ_ONLY_POSTS)
        request = Request(method, parsed.path, query, body, {}, headers, raw_body, base_url or self.url)
        with self._lock:
            token = headers.get("authorization", "").removeprefix("Bearer ").strip()
            member = (access.member_of(self.world, token) or "?") if token else ""
            recorded = {k: v for k, v in headers.items() if k in RECORDED_HEADERS}
            call = Call(
                method, parsed.path, query, body, mutating, headers=recorded, size=len(raw_body), member=member, source=source, time=time.time()
            )
            self.calls.append(call)
            try:
                reply = self._dispatch(request, mutating)
            except Exception as exc:
                reply = 500, {"error": {"code": 500, "message": f"fake GCP bug: {type(exc).__name__}: {exc}", "status": "INTERNAL"}}
            call.status = reply.status if isinstance(reply, Media) else reply[0]
            return reply

    def _dispatch(self, request: Request, mutating: bool) -> Reply:
        method, path = request.method, request.path
        for route_method, pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if route_method == method and match:
                request.params = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items() if v is not None}
                refused = access.gate(self.world, request)
                if refused is not None:
                    return refused
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

    def _fail(self, injection: _Injection, handler: Handler, request: Request) -> Reply:
        failure = injection.failure
        if isinstance(failure, OperationFailure):
            if request.path.startswith("/compute/"):
                return 200, self.world.failed_operation(request, failure)
            failure = failure.as_http()
        if injection.after_apply:
            handler(self.world, request)
        return answer(failure)


def _json_body(raw: bytes, content_type: str) -> Any:
    """The parsed JSON body, or None for an upload's bytes, a form or no body."""
    if not raw.strip() or not ("json" in content_type or not content_type):
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        if "json" in content_type:
            raise
        return None
