"""The GCE metadata server at 169.254.169.254 (metadata.google.internal in the VMs' hosts
file), for the box's VMs.

It knows who asks by the source address (each VM has its instance's networkIP), as GCE's host
does, and answers what google-auth, google-cloud-storage, Ray and the runtime read:
- `GET /` with `Metadata-Flavor: Google` in the answer (google-auth's "am I on GCE" ping);
- `GET /computeMetadata/v1/...` only with the request header `Metadata-Flavor: Google` (else
  403, as GCE answers), and never with `X-Forwarded-For` (GCE refuses proxied requests):
  project/project-id, project/numeric-project-id; instance/id, name, hostname, zone,
  machine-type, network-interfaces/0/ip, attributes/ and attributes/KEY (the instance's
  metadata items), preempted, scheduling/preemptible; instance/service-accounts/ (with
  `?recursive=true` as JSON), .../EMAIL-or-default/{email, scopes, token}; universe/universe-domain.
Tokens come from the fake's `World.issue_token` for the instance's service account, so the
fake knows whom each call acts for. An instance without a service account has none to hand out.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from typing import Any

from tests.gcp.fake_gcp.server import FakeGcp
from tests.support.http_fake import HttpFake, HttpReply, HttpRequest

PREFIX = "/computeMetadata/v1/"
TOKEN_LIFETIME_S = 3599
PROJECT_NUMBER = "123456789012"  # the fake's project number (Resource Manager answers it too)


def _text(status: int, body: str, content_type: str = "application/text") -> HttpReply:
    return HttpReply(status, body.encode(), {"Metadata-Flavor": "Google", "Content-Type": content_type, "Server": "Metadata Server for VM"})


def _json(body: Any) -> HttpReply:
    return _text(200, json.dumps(body), "application/json")


def _not_found() -> HttpReply:
    return _text(404, "Not Found", "text/html")


class MetadataServer:
    def __init__(self, fake: FakeGcp) -> None:
        self.fake = fake
        self.preempted: set[str] = set()  # instance ids GCE is preempting
        self._lock = threading.Lock()
        self._http: HttpFake | None = None

    def start(self, host: str, port: int = 80) -> MetadataServer:
        self._http = HttpFake(self.reply, host=host, port=port).start()
        return self

    def shutdown(self) -> None:
        if self._http is not None:
            self._http.stop()

    @property
    def url(self) -> str:
        assert self._http is not None, "not started"
        return self._http.url

    def mark_preempted(self, instance_id: str) -> None:
        with self._lock:
            self.preempted.add(instance_id)

    def _instance(self, ip: str) -> tuple[str, dict[str, Any]] | None:
        with self.fake._lock:
            for (project, _zone, _name), instance in self.fake.world.instances.items():
                if instance.get("status") == "RUNNING" and any(i.get("networkIP") == ip for i in instance.get("networkInterfaces", [])):
                    return project, json.loads(json.dumps(instance))
        return None

    def reply(self, request: HttpRequest) -> HttpReply:
        if request.method != "GET":
            return _text(405, "Method Not Allowed", "text/html")
        parsed = urllib.parse.urlsplit(request.path)
        query = urllib.parse.parse_qs(parsed.query)
        if parsed.path == "/":
            return _text(200, "computeMetadata/\n")
        if not parsed.path.startswith(PREFIX):
            return _not_found()
        if request.headers.get("metadata-flavor", "") != "Google" or "x-forwarded-for" in request.headers:
            return _text(
                403, "Missing required header: Metadata-Flavor\n" if "x-forwarded-for" not in request.headers else "Forbidden\n", "text/html"
            )
        found = self._instance(request.client)
        if found is None:
            return _not_found()  # not one of the box's running VMs
        project, instance = found
        return self.answer(project, instance, parsed.path.removeprefix(PREFIX), query.get("recursive", [""])[0] == "true")

    def _accounts(self, instance: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The instance's service accounts by alias and email (GCE serves both)."""
        found: dict[str, dict[str, Any]] = {}
        for account in instance.get("serviceAccounts", []):
            entry = {"aliases": ["default"] if not found else [], "email": account["email"], "scopes": account.get("scopes", [])}
            found.setdefault("default", entry)
            found[account["email"]] = entry
        return found

    def answer(self, project: str, instance: dict[str, Any], path: str, recursive: bool) -> HttpReply:
        zone = instance.get("zone", "").rsplit("/", 1)[-1]
        items = {item["key"]: item.get("value", "") for item in instance.get("metadata", {}).get("items", [])}
        ip = instance["networkInterfaces"][0]["networkIP"]
        with self._lock:
            preempted = instance["id"] in self.preempted
        simple = {
            "project/project-id": project,
            "project/numeric-project-id": PROJECT_NUMBER,
            "instance/id": instance["id"],
            "instance/name": instance["name"],
            "instance/hostname": f"{instance['name']}.{zone}.c.{project}.internal",
            "instance/zone": f"projects/{PROJECT_NUMBER}/zones/{zone}",
            "instance/machine-type": f"projects/{PROJECT_NUMBER}/machineTypes/{instance.get('machineType', '').rsplit('/', 1)[-1]}",
            "instance/network-interfaces/0/ip": ip,
            "instance/preempted": "TRUE" if preempted else "FALSE",
            "instance/scheduling/preemptible": "TRUE" if instance.get("scheduling", {}).get("provisioningModel") == "SPOT" else "FALSE",
            "universe/universe-domain": "googleapis.com",
        }
        if path in simple:
            return _text(200, simple[path])
        if path == "instance/attributes/":
            return _json(items) if recursive else _text(200, "".join(f"{key}\n" for key in items))
        if path.startswith("instance/attributes/"):
            key = path.removeprefix("instance/attributes/")
            return _text(200, items[key]) if key in items else _not_found()
        accounts = self._accounts(instance)
        if path == "instance/service-accounts/":
            if recursive:
                return _json(accounts)
            return _text(200, "".join(f"{name}/\n" for name in accounts))
        if path.startswith("instance/service-accounts/"):
            name, _, leaf = path.removeprefix("instance/service-accounts/").partition("/")
            account = accounts.get(name)
            if account is None:
                return _not_found()
            if leaf == "" and recursive:
                return _json(account)
            if leaf == "email":
                return _text(200, account["email"])
            if leaf == "scopes":
                return _text(200, "".join(f"{scope}\n" for scope in account["scopes"]))
            if leaf == "token":
                with self.fake._lock:
                    token = self.fake.world.issue_token(f"serviceAccount:{account['email']}")
                return _json({"access_token": token, "expires_in": TOKEN_LIFETIME_S, "token_type": "Bearer"})
            if leaf == "":
                return _text(200, "aliases\nemail\nidentity\nscopes\ntoken\n")
        return _not_found()
