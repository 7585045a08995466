"""Azure's Instance Metadata Service at 169.254.169.254, for the box's VMs.

It knows who asks by the source address (each VM has its NIC's private IP), as Azure's host
does, and answers only with the header `Metadata: true` and never a proxied request
(X-Forwarded-For), as IMDS does:
- `GET /metadata/identity/oauth2/token?api-version&resource[&client_id]`: a token for one of
  the VM's managed identities, by client id (AZURE_CLIENT_ID), or without one the VM's only
  identity; the token logic is the Blob fake's (tests/azure/fake_blob/imds.py), the tokens the
  box's directory's, so Resource Manager and Blob both know the identity;
- `GET /metadata/instance?api-version` (and any leaf below it, `format=text` for text): compute
  (name, location, vmId, resourceGroupName, subscriptionId, vmSize, tags, priority, ...) and
  network (the private IP);
- `GET /metadata/scheduledevents?api-version`: the VM's scheduled events; `preempt` adds a
  Preempt event, and after the grace period applies the spot VM's eviction policy.
"""

from __future__ import annotations

import email.utils
import itertools
import json
import threading
import time
import urllib.parse
import uuid
from typing import Any

from tests.azure.fake_arm.server import FakeArm
from tests.azure.fake_blob.imds import TOKEN_PATH, token_reply
from tests.azure.fake_blob.world import Identity
from tests.cloudbox.azure.directory import Directory
from tests.cloudbox.azure.machines import VM_TYPE, power_state, private_ip
from tests.cloudbox.azure.trail import Trail
from tests.support.http_fake import HttpFake, HttpReply, HttpRequest

INSTANCE_PATH = "/metadata/instance"
EVENTS_PATH = "/metadata/scheduledevents"
EVICTION_GRACE_S = 30.0  # Azure notifies a spot VM's eviction at least 30 s ahead


def _json(status: int, body: Any) -> HttpReply:
    return HttpReply(status, json.dumps(body).encode(), {"Content-Type": "application/json; charset=utf-8", "Server": "Microsoft-IIS/10.0"})


def _text(status: int, body: str) -> HttpReply:
    return HttpReply(status, body.encode(), {"Content-Type": "text/plain; charset=utf-8"})


class AzureImds:
    def __init__(self, arm: FakeArm, directory: Directory, trail: Trail) -> None:
        self.arm = arm
        self.directory = directory
        self.trail = trail
        self.events: dict[str, list[dict[str, Any]]] = {}  # vmId -> its scheduled events
        self._incarnation = itertools.count(1)
        self.incarnation = 0
        self._lock = threading.Lock()
        self._http: HttpFake | None = None

    def start(self, host: str, port: int = 80) -> AzureImds:
        self._http = HttpFake(self.reply, host=host, port=port).start()
        return self

    def shutdown(self) -> None:
        if self._http is not None:
            self._http.stop()

    # ------------------------------------------------------------------ who asks
    def _vm_at(self, ip: str) -> dict[str, Any] | None:
        with self.arm.lock:
            for vm in self.arm.store.of_type(VM_TYPE):
                if private_ip(self.arm, vm) == ip and power_state(self.arm, vm) == "running":
                    return json.loads(json.dumps(vm))
        return None

    def identities(self, vm: dict[str, Any]) -> tuple[list[Identity], Identity | None]:
        """The VM's managed identities, and the one IMDS picks without a client id: the
        system-assigned identity, or the only user-assigned one when it has no other."""
        identity = vm.get("identity") or {}
        found: list[Identity] = []
        with self.arm.lock:
            for rid in identity.get("userAssignedIdentities") or {}:
                resource = self.arm.store.get(rid)
                if resource is not None:
                    props = resource["properties"]
                    found.append(Identity(props["principalId"], props["clientId"]))
        system = identity.get("principalId") if "systemassigned" in str(identity.get("type", "")).lower() else None
        if system:
            found.append(Identity(system, None))
            return found, found[-1]
        return found, (found[0] if len(found) == 1 else None)

    # ------------------------------------------------------------------ answers
    def reply(self, request: HttpRequest) -> HttpReply:
        parsed = urllib.parse.urlsplit(request.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query).items()}
        vm = self._vm_at(request.client)
        reply, principal = self._answer(request, parsed.path.rstrip("/"), query, vm)
        self.trail.add("imds", request.method, parsed.path, reply.status, request.client, principal)
        return reply

    def _answer(self, request: HttpRequest, path: str, query: dict[str, str], vm: dict[str, Any] | None) -> tuple[HttpReply, str | None]:
        if "x-forwarded-for" in request.headers:
            return _json(400, {"error": "Bad request. X-Forwarded-For header is not allowed."}), None
        if request.method != "GET" and not (request.method == "POST" and path == EVENTS_PATH):
            return _json(405, {"error": "Method not allowed"}), None
        if vm is None:
            return _json(404, {"error": "Not found"}), None  # not one of the box's running VMs
        if path == TOKEN_PATH:
            identities, default = self.identities(vm)
            status, body = token_reply(query, request.headers.get("metadata", ""), identities, self.directory.issue, default)
            chosen = default if "client_id" not in query else next((i for i in identities if i.client_id == query["client_id"]), None)
            return _json(status, body), (chosen.principal if chosen and status == 200 else None)
        if request.headers.get("metadata", "").lower() != "true":
            return _json(400, {"error": "Bad request. Required metadata header not specified"}), None
        if "api-version" not in query:
            return _json(
                400,
                {
                    "error": "Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds",
                    "newest-versions": ["2023-07-01"],
                },
            ), None
        if path == EVENTS_PATH:
            return self._events(request, vm), None
        if path == INSTANCE_PATH or path.startswith(INSTANCE_PATH + "/"):
            return self._instance(vm, path.removeprefix(INSTANCE_PATH).strip("/"), query.get("format", "json")), None
        return _json(404, {"error": "Not found"}), None

    def _instance(self, vm: dict[str, Any], leaf: str, form: str) -> HttpReply:
        value: Any = self.document(vm)
        for part in [p for p in leaf.split("/") if p]:
            if isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            elif isinstance(value, dict) and part in value:
                value = value[part]
            else:
                return _json(404, {"error": "Not found"})
        if form == "text":  # a leaf's value; a folder's entries, one a line
            if isinstance(value, dict):
                return _text(200, "\n".join(value))
            if isinstance(value, list):
                return _text(200, "\n".join(str(i) for i in range(len(value))))
            return _text(200, str(value))
        return _json(200, value)

    def document(self, vm: dict[str, Any]) -> dict[str, Any]:
        """What /metadata/instance says of a VM (api-version 2021-02-01 and later)."""
        rid, props = vm["id"], vm.get("properties") or {}
        parts = rid.split("/")
        tags = vm.get("tags") or {}
        with self.arm.lock:
            ip = private_ip(self.arm, vm)
            nic = self.arm.store.get(((props.get("networkProfile") or {}).get("networkInterfaces") or [{}])[0].get("id", ""))
            config = (((nic or {}).get("properties") or {}).get("ipConfigurations") or [{}])[0].get("properties") or {}
            subnet = self.arm.store.subnet((config.get("subnet") or {}).get("id", "")) or {}
            public = self.arm.store.get((config.get("publicIPAddress") or {}).get("id", "")) or {}
        prefix = (subnet.get("properties") or {}).get("addressPrefix", "0.0.0.0/0")
        os_profile = props.get("osProfile") or {}
        return {
            "compute": {
                "azEnvironment": "AzurePublicCloud",
                "evictionPolicy": props.get("evictionPolicy", ""),
                "location": vm.get("location", ""),
                "name": vm["name"],
                "osProfile": {
                    "adminUsername": os_profile.get("adminUsername", ""),
                    "computerName": os_profile.get("computerName", vm["name"]),
                    "disablePasswordAuthentication": "true",
                },
                "osType": "Linux",
                "priority": props.get("priority", "") if props.get("priority") != "Regular" else "",
                "provider": "Microsoft.Compute",
                "resourceGroupName": parts[4],
                "resourceId": rid,
                "subscriptionId": parts[2],
                "tags": ";".join(f"{k}:{v}" for k, v in tags.items()),
                "tagsList": [{"name": k, "value": v} for k, v in tags.items()],
                "vmId": props.get("vmId", ""),
                "vmSize": (props.get("hardwareProfile") or {}).get("vmSize", ""),
                "zone": (vm.get("zones") or [""])[0],
            },
            "network": {
                "interface": [
                    {
                        "ipv4": {
                            "ipAddress": [{"privateIpAddress": ip or "", "publicIpAddress": (public.get("properties") or {}).get("ipAddress", "")}],
                            "subnet": [{"address": prefix.split("/")[0], "prefix": prefix.split("/")[-1]}],
                        },
                        "ipv6": {"ipAddress": []},
                        "macAddress": "",
                    }
                ]
            },
        }

    # ------------------------------------------------------------------ scheduled events
    def _events(self, request: HttpRequest, vm: dict[str, Any]) -> HttpReply:
        vm_id = vm["properties"]["vmId"]
        with self._lock:
            if request.method == "POST":  # acknowledging (StartRequests) lets the event start now
                return HttpReply(200, b"")
            return _json(200, {"DocumentIncarnation": self.incarnation, "Events": list(self.events.get(vm_id, []))})

    def preempt(self, name: str, grace_s: float = EVICTION_GRACE_S) -> str:
        """Evict a spot VM as Azure does: a Preempt event at once, and after `grace_s` its
        eviction policy (Delete: the VM and what it deletes with it; Deallocate: stopped)."""
        with self.arm.lock:
            vm = next((v for v in self.arm.store.of_type(VM_TYPE) if v["name"] == name), None)
            if vm is None:
                raise KeyError(f"no virtual machine {name}")
            vm_id, rid, policy = vm["properties"]["vmId"], vm["id"], vm["properties"].get("evictionPolicy", "Deallocate")
        not_before = email.utils.formatdate(time.time() + grace_s, usegmt=True)
        event = {
            "EventId": str(uuid.uuid4()).upper(),
            "EventStatus": "Scheduled",
            "EventType": "Preempt",
            "ResourceType": "VirtualMachine",
            "Resources": [name],
            "NotBefore": not_before,
            "Description": "The virtual machine is being evicted (Spot).",
            "EventSource": "Platform",
            "DurationInSeconds": -1,
        }
        with self._lock:
            self.events.setdefault(vm_id, []).append(event)
            self.incarnation = next(self._incarnation)

        def evict() -> None:
            with self.arm.lock:
                if self.arm.store.get(rid) is None:
                    return
                if str(policy).lower() == "delete":
                    self.arm.store.delete_resource(rid)
                else:
                    self.arm.store.instance_state[rid.lower()] = "deallocated"
            with self._lock:
                self.events.pop(vm_id, None)
                self.incarnation = next(self._incarnation)

        threading.Timer(grace_s, evict).start()
        return vm_id
