"""EC2's instance metadata service (IMDSv2) at 169.254.169.254, for the box's VMs.

It knows who asks by the source address (each VM has its instance's private IP), as EC2's
hypervisor does. Answers what botocore's credential chain, Ray and the runtime read:
- PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds) -> a session token;
- GET /latest/meta-data/{instance-id, instance-type, ami-id, local-ipv4, hostname,
  local-hostname, placement/availability-zone, placement/region, iam/info,
  iam/security-credentials/[ROLE], spot/instance-action}, /latest/dynamic/instance-identity/document.
With `HttpTokens: required` (rlcloud sets it) a GET without a valid token is 401, as on EC2.
Credentials come from moto's STS for the role of the instance's profile.
"""

from __future__ import annotations

import datetime
import json
import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.cloudbox.aws import account

TOKEN_HEADER = "X-aws-ec2-metadata-token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class MetadataService:
    def __init__(self, credentials: account.InstanceCredentials) -> None:
        self.credentials = credentials
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (source ip, expiry)
        self.notices: dict[str, dict[str, str]] = {}  # instance id -> spot instance-action
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ tokens
    def issue_token(self, source_ip: str, ttl_s: int) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (source_ip, time.monotonic() + ttl_s)
        return token

    def token_valid(self, token: str | None, source_ip: str) -> bool:
        if not token:
            return False
        with self._lock:
            found = self._tokens.get(token)
        return found is not None and found[0] == source_ip and found[1] > time.monotonic()

    # ------------------------------------------------------------------ answers
    def answer(self, region: str, instance: Any, path: str) -> tuple[int, str, str]:
        """(status, content type, body) for a GET of `path` by `instance`."""
        meta = "/latest/meta-data/"
        profile = account.instance_profile(region, instance)
        role = profile.roles[0] if profile is not None and profile.roles else None
        zone = instance.placement.zone or ""
        simple: dict[str, Callable[[], str]] = {
            "instance-id": lambda: instance.id,
            "instance-type": lambda: instance.instance_type,
            "ami-id": lambda: instance.image_id,
            "local-ipv4": lambda: instance.private_ip,
            "hostname": lambda: _hostname(instance, region),
            "local-hostname": lambda: _hostname(instance, region),
            "placement/availability-zone": lambda: zone,
            "placement/region": lambda: region,
        }
        if path in ("/latest/meta-data", meta):
            return (
                200,
                "text/plain",
                "\n".join(["ami-id", "hostname", "iam/", "instance-id", "instance-type", "local-hostname", "local-ipv4", "placement/", "spot/"]),
            )
        if path == "/latest/dynamic/instance-identity/document":
            document = {
                "accountId": account.ACCOUNT,
                "architecture": "x86_64",
                "availabilityZone": zone,
                "imageId": instance.image_id,
                "instanceId": instance.id,
                "instanceType": instance.instance_type,
                "privateIp": instance.private_ip,
                "region": region,
                "version": "2017-09-30",
            }
            return 200, "application/json", json.dumps(document)
        if not path.startswith(meta):
            return 404, "text/plain", "Not Found"
        key = path[len(meta) :].rstrip("/")
        if key in simple:
            return 200, "text/plain", simple[key]()
        if key == "spot/instance-action":
            notice = self.notices.get(instance.id)
            return (200, "application/json", json.dumps(notice)) if notice else (404, "text/plain", "Not Found")
        if key.startswith("iam"):
            return self._iam(instance, profile, role, key)
        return 404, "text/plain", "Not Found"

    def _iam(self, instance: Any, profile: Any, role: Any, key: str) -> tuple[int, str, str]:
        if role is None:
            return 404, "text/plain", "Not Found"
        if key == "iam/info":
            info = {
                "Code": "Success",
                "LastUpdated": _iso(datetime.datetime.now(datetime.timezone.utc)),
                "InstanceProfileArn": profile.arn,
                "InstanceProfileId": profile.id,
            }
            return 200, "application/json", json.dumps(info)
        if key == "iam/security-credentials":
            return 200, "text/plain", role.name
        if key == f"iam/security-credentials/{role.name}":
            creds = self.credentials.for_instance(instance.id, role.arn)
            body = {
                "Code": "Success",
                "LastUpdated": _iso(creds.issued),
                "Type": "AWS-HMAC",
                "AccessKeyId": creds.access_key_id,
                "SecretAccessKey": creds.secret_access_key,
                "Token": creds.token,
                "Expiration": _iso(creds.expiration),
            }
            return 200, "application/json", json.dumps(body)
        return 404, "text/plain", "Not Found"


def _hostname(instance: Any, region: str) -> str:
    return f"ip-{instance.private_ip.replace('.', '-')}.{region}.compute.internal"


def _handler(service: MetadataService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "EC2ws"
        sys_version = ""

        def log_message(self, *_: Any) -> None:  # quiet: the box's log is the trail
            return

        def _send(self, status: int, body: str, content_type: str = "text/plain") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self) -> None:
            if self.path.rstrip("/") != "/latest/api/token":
                return self._send(404, "Not Found")
            if self.headers.get("X-Forwarded-For"):  # EC2 refuses tokens through proxies
                return self._send(403, "Forbidden")
            try:
                ttl = int(self.headers.get(TTL_HEADER, ""))
            except ValueError:
                return self._send(400, "Bad Request")
            if not 1 <= ttl <= 21600:
                return self._send(400, "Bad Request")
            self._send(200, service.issue_token(self.client_address[0], ttl))

        def do_GET(self) -> None:
            found = account.instance_at(self.client_address[0])
            if found is None:
                return self._send(404, "Not Found")
            region, instance = found
            token = self.headers.get(TOKEN_HEADER)
            required = getattr(instance.metadata_options, "http_tokens", "optional") == "required"
            if (token is not None or required) and not service.token_valid(token, self.client_address[0]):
                return self._send(401, "Unauthorized")
            status, content_type, body = service.answer(region, instance, self.path.split("?", 1)[0])
            self._send(status, body, content_type)

    return Handler


def serve(service: MetadataService, host: str, port: int = 80) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), _handler(service))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="imds", daemon=True).start()
    return server
