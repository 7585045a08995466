"""Compute Engine v1 endpoints: networks, subnetworks, images, firewalls, resource
policies, instances and operations.

Beyond storing what it is sent, the fake refuses what GCE refuses and rlcloud must get right:
a firewall on a missing network, a duplicate name (409), deleting a placement policy a VM
still uses (400 resourceInUseByAnotherResource), a VM naming a missing placement policy or
service account, a GPU VM that would live-migrate, gVNIC on an image without GVNIC, and a
setLabels with a stale fingerprint (412).
"""

from __future__ import annotations

import copy
import ipaddress
import re
import time
from typing import Any

from tests.gcp.fake_gcp.errors import rest_error
from tests.gcp.fake_gcp.filters import compile_filter
from tests.gcp.fake_gcp.routing import answer, router
from tests.gcp.fake_gcp.world import API, Request, Response, World, etag

ROUTES, route = router(r"/compute/v1/projects/(?P<project>[^/]+)")
NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def _error(status: int, message: str, reason: str) -> Response:
    return answer(rest_error(status, message, reason))


def not_found(path: str) -> Response:
    return _error(404, f"The resource '{path}' was not found", "notFound")


def already_exists(path: str) -> Response:
    return _error(409, f"The resource '{path}' already exists", "alreadyExists")


def invalid(message: str, reason: str = "invalid") -> Response:
    return _error(400, message, reason)


def _get(store: dict[Any, dict[str, Any]], key: Any, path: str) -> Response:
    return (200, copy.deepcopy(store[key])) if key in store else not_found(path)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000-00:00", time.gmtime())


def _list(request: Request, kind: str, items: list[dict[str, Any]]) -> Response:
    try:
        keep = compile_filter(request.arg("filter"))
    except ValueError as exc:
        return invalid(f"Invalid value for field 'filter': '{request.arg('filter')}'. {exc}")
    body: dict[str, Any] = {"kind": kind, "id": "projects/" + request.params["project"], "selfLink": API + request.path.removeprefix("/compute/v1")}
    found = [copy.deepcopy(i) for i in items if keep(i)]
    if found:  # the API leaves `items` out of an empty list
        body["items"] = found
    return 200, body


def _network_key(project: str, network: str) -> tuple[str, str] | None:
    match = re.search(r"(?:projects/(?P<p>[^/]+)/)?global/networks/(?P<n>[^/]+)$", network)
    return (match.group("p") or project, match.group("n")) if match else None


# --------------------------------------------------------------------------- networks, images
@route("GET", r"/global/networks/(?P<name>[^/]+)")
def get_network(world: World, request: Request) -> Response:
    project, name = request.params["project"], request.params["name"]
    if (project, name) not in world.networks:
        return not_found(f"projects/{project}/global/networks/{name}")
    return 200, {
        "kind": "compute#network",
        "name": name,
        "selfLink": f"{API}/projects/{project}/global/networks/{name}",
        "autoCreateSubnetworks": name == "default",
    }


@route("GET", r"/regions/(?P<region>[^/]+)/subnetworks/(?P<name>[^/]+)")
def get_subnetwork(world: World, request: Request) -> Response:
    key = (request.params["project"], request.params["region"], request.params["name"])
    if key not in world.subnetworks:
        return not_found(f"projects/{key[0]}/regions/{key[1]}/subnetworks/{key[2]}")
    return 200, {"kind": "compute#subnetwork", "name": key[2], "region": f"{API}/projects/{key[0]}/regions/{key[1]}"}


@route("GET", r"/global/images/family/(?P<family>[^/]+)")
def get_image_from_family(world: World, request: Request) -> Response:
    key = (request.params["project"], request.params["family"])
    if key not in world.images:
        return not_found(f"projects/{key[0]}/global/images/family/{key[1]}")
    return 200, copy.deepcopy(world.images[key])


@route("GET", r"/global/images/(?P<name>[^/]+)")
def get_image(world: World, request: Request) -> Response:
    key = (request.params["project"], request.params["name"])
    if key not in world.images or world.images[key]["family"]:
        return not_found(f"projects/{key[0]}/global/images/{key[1]}")
    return 200, copy.deepcopy(world.images[key])


def _image_features(world: World, source_image: str) -> list[str] | None:
    match = re.search(r"projects/(?P<p>[^/]+)/global/images/(?:family/)?(?P<n>[^/]+)$", source_image)
    image = world.images.get((match.group("p"), match.group("n"))) if match else None
    return [f["type"] for f in image["guestOsFeatures"]] if image else None


# --------------------------------------------------------------------------- firewalls
def _firewall_path(project: str, name: str) -> str:
    return f"projects/{project}/global/firewalls/{name}"


def _checked_firewall(world: World, project: str, body: dict[str, Any]) -> dict[str, Any] | Response:
    name = body.get("name", "")
    if not NAME_RE.match(name):
        return invalid(f"Invalid value for field 'resource.name': '{name}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{{0,61}}[a-z0-9])?)'")
    key = _network_key(project, body.get("network", "global/networks/default"))
    if key is None or key not in world.networks:
        return not_found(f"projects/{project}/global/networks/{body.get('network')}")
    if bool(body.get("allowed")) == bool(body.get("denied")):
        return invalid("Exactly one of 'allowed' or 'denied' must be specified.")
    for cidr in body.get("sourceRanges", []):
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            return invalid(f"Invalid value for field 'resource.sourceRanges[0]': '{cidr}'. Must be a CIDR address range")
    rule = copy.deepcopy(body)
    rule.update(
        kind="compute#firewall",
        network=f"{API}/projects/{key[0]}/global/networks/{key[1]}",
        direction=body.get("direction", "INGRESS"),
        priority=body.get("priority", 1000),
        disabled=body.get("disabled", False),
        selfLink=f"{API}/{_firewall_path(project, name)}",
    )
    return rule


@route("GET", r"/global/firewalls")
def list_firewalls(world: World, request: Request) -> Response:
    project = request.params["project"]
    return _list(request, "compute#firewallList", [f for (p, _), f in sorted(world.firewalls.items()) if p == project])


@route("GET", r"/global/firewalls/(?P<name>[^/]+)")
def get_firewall(world: World, request: Request) -> Response:
    key = (request.params["project"], request.params["name"])
    return _get(world.firewalls, key, _firewall_path(*key))


@route("POST", r"/global/firewalls")
def insert_firewall(world: World, request: Request) -> Response:
    project = request.params["project"]
    rule = _checked_firewall(world, project, request.body or {})
    if isinstance(rule, tuple):
        return rule
    key = (project, rule["name"])
    if key in world.firewalls:
        return already_exists(_firewall_path(*key))
    rule.update(id=str(world.next_id()), creationTimestamp=_now())
    world.firewalls[key] = rule
    return 200, world.operation(request, "insert", rule["selfLink"])


@route("PUT", r"/global/firewalls/(?P<name>[^/]+)")
def update_firewall(world: World, request: Request) -> Response:
    key = (request.params["project"], request.params["name"])
    if key not in world.firewalls:
        return not_found(_firewall_path(*key))
    rule = _checked_firewall(world, key[0], {**(request.body or {}), "name": key[1]})
    if isinstance(rule, tuple):
        return rule
    rule.update(id=world.firewalls[key]["id"], creationTimestamp=world.firewalls[key]["creationTimestamp"])
    world.firewalls[key] = rule
    return 200, world.operation(request, "update", rule["selfLink"])


@route("DELETE", r"/global/firewalls/(?P<name>[^/]+)")
def delete_firewall(world: World, request: Request) -> Response:
    key = (request.params["project"], request.params["name"])
    if key not in world.firewalls:
        return not_found(_firewall_path(*key))
    rule = world.firewalls.pop(key)
    return 200, world.operation(request, "delete", rule["selfLink"])


# --------------------------------------------------------------------------- resource policies
def _policy_path(project: str, region: str, name: str) -> str:
    return f"projects/{project}/regions/{region}/resourcePolicies/{name}"


@route("GET", r"/regions/(?P<region>[^/]+)/resourcePolicies")
def list_resource_policies(world: World, request: Request) -> Response:
    project, region = request.params["project"], request.params["region"]
    return _list(
        request, "compute#resourcePolicyList", [v for (p, r, _), v in sorted(world.resource_policies.items()) if (p, r) == (project, region)]
    )


@route("GET", r"/regions/(?P<region>[^/]+)/resourcePolicies/(?P<name>[^/]+)")
def get_resource_policy(world: World, request: Request) -> Response:
    key = (request.params["project"], request.params["region"], request.params["name"])
    return _get(world.resource_policies, key, _policy_path(*key))


@route("POST", r"/regions/(?P<region>[^/]+)/resourcePolicies")
def insert_resource_policy(world: World, request: Request) -> Response:
    project, region = request.params["project"], request.params["region"]
    body = copy.deepcopy(request.body or {})
    name = body.get("name", "")
    if not NAME_RE.match(name):
        return invalid(f"Invalid value for field 'resource.name': '{name}'.")
    placement = body.get("groupPlacementPolicy")
    if placement is not None and placement.get("collocation") not in ("COLLOCATED", "UNSPECIFIED_COLLOCATION"):
        return invalid(f"Invalid value for field 'resource.groupPlacementPolicy.collocation': '{placement.get('collocation')}'.")
    key = (project, region, name)
    if key in world.resource_policies:
        return already_exists(_policy_path(*key))
    body.update(
        kind="compute#resourcePolicy",
        id=str(world.next_id()),
        creationTimestamp=_now(),
        region=f"{API}/projects/{project}/regions/{region}",
        selfLink=f"{API}/{_policy_path(*key)}",
        status="READY",
    )
    world.resource_policies[key] = body
    return 200, world.operation(request, "insert", body["selfLink"])


@route("DELETE", r"/regions/(?P<region>[^/]+)/resourcePolicies/(?P<name>[^/]+)")
def delete_resource_policy(world: World, request: Request) -> Response:
    key = (request.params["project"], request.params["region"], request.params["name"])
    if key not in world.resource_policies:
        return not_found(_policy_path(*key))
    for (project, zone, instance), vm in world.instances.items():
        if any(p.endswith(_policy_path(*key)) for p in vm.get("resourcePolicies", [])):
            return invalid(
                f"The resource_policy resource '{_policy_path(*key)}' is already being used by 'projects/{project}/zones/{zone}/instances/{instance}'",
                "resourceInUseByAnotherResource",
            )
    policy = world.resource_policies.pop(key)
    return 200, world.operation(request, "delete", policy["selfLink"])


# --------------------------------------------------------------------------- instances
def _instance_path(project: str, zone: str, name: str) -> str:
    return f"projects/{project}/zones/{zone}/instances/{name}"


def _checked_instance(world: World, project: str, zone: str, body: dict[str, Any]) -> Response | None:
    for policy in body.get("resourcePolicies", []):
        match = re.search(r"projects/(?P<p>[^/]+)/regions/(?P<r>[^/]+)/resourcePolicies/(?P<n>[^/]+)$", policy)
        if not match or (match.group("p"), match.group("r"), match.group("n")) not in world.resource_policies:
            return not_found(policy)
    for account in body.get("serviceAccounts", []):
        if account.get("email") not in world.service_accounts:
            return invalid(f"The resource 'projects/{project}/serviceAccounts/{account.get('email')}' was not found", "notFound")
    for interface in body.get("networkInterfaces", []):
        key = _network_key(project, interface.get("network", "global/networks/default"))
        if key is None or key not in world.networks:
            return not_found(f"projects/{project}/global/networks/{interface.get('network')}")
        if interface.get("nicType") == "GVNIC":
            boot = next((d for d in body.get("disks", []) if d.get("boot")), {})
            features = _image_features(world, boot.get("initializeParams", {}).get("sourceImage", ""))
            if features is not None and "GVNIC" not in features:
                return invalid("Invalid value for field 'resource.networkInterfaces[0].nicType': 'GVNIC'. The source image does not support gVNIC.")
    scheduling = body.get("scheduling", {})
    if body.get("guestAccelerators") and scheduling.get("onHostMaintenance", "MIGRATE") != "TERMINATE":
        return invalid("Instances with guest accelerators do not support live migration.")
    return None


@route("GET", r"/zones/(?P<zone>[^/]+)/instances")
def list_instances(world: World, request: Request) -> Response:
    project, zone = request.params["project"], request.params["zone"]
    return _list(request, "compute#instanceList", [v for (p, z, _), v in sorted(world.instances.items()) if (p, z) == (project, zone)])


@route("GET", r"/zones/(?P<zone>[^/]+)/instances/(?P<name>[^/]+)")
def get_instance(world: World, request: Request) -> Response:
    key = (request.params["project"], request.params["zone"], request.params["name"])
    return _get(world.instances, key, _instance_path(*key))


@route("POST", r"/zones/(?P<zone>[^/]+)/instances")
def insert_instance(world: World, request: Request) -> Response:
    project, zone = request.params["project"], request.params["zone"]
    body = copy.deepcopy(request.body or {})
    name = body.get("name", "")
    if not NAME_RE.match(name):
        return invalid(f"Invalid value for field 'resource.name': '{name}'.")
    key = (project, zone, name)
    if key in world.instances:
        return already_exists(_instance_path(*key))
    refused = _checked_instance(world, project, zone, body)
    if refused is not None:
        return refused
    number = world.next_id()
    for index, interface in enumerate(body.get("networkInterfaces", [])):
        network = _network_key(project, interface.get("network", "global/networks/default"))
        assert network is not None
        interface["network"] = f"{API}/projects/{network[0]}/global/networks/{network[1]}"
        interface["networkIP"] = f"10.128.{index}.{number % 250 + 2}"
        for access in interface.get("accessConfigs", []):
            access["natIP"] = f"34.{index + 10}.{number // 250 % 250}.{number % 250 + 2}"
    body.update(
        kind="compute#instance",
        id=str(number),
        status="RUNNING",
        zone=f"{API}/projects/{project}/zones/{zone}",
        selfLink=f"{API}/{_instance_path(*key)}",
        creationTimestamp=_now(),
        labels=body.get("labels", {}),
        labelFingerprint=etag(body.get("labels", {})),
    )
    world.instances[key] = body
    return 200, world.operation(request, "insert", body["selfLink"])


@route("POST", r"/zones/(?P<zone>[^/]+)/instances/(?P<name>[^/]+)/setLabels")
def set_instance_labels(world: World, request: Request) -> Response:
    key = (request.params["project"], request.params["zone"], request.params["name"])
    if key not in world.instances:
        return not_found(_instance_path(*key))
    vm = world.instances[key]
    if (request.body or {}).get("labelFingerprint") != vm["labelFingerprint"]:
        return _error(412, "Labels fingerprint either invalid or resource labels have changed", "conditionNotMet")
    vm["labels"] = dict((request.body or {}).get("labels", {}))
    vm["labelFingerprint"] = etag(vm["labels"])
    return 200, world.operation(request, "setLabels", vm["selfLink"])


@route("DELETE", r"/zones/(?P<zone>[^/]+)/instances/(?P<name>[^/]+)")
def delete_instance(world: World, request: Request) -> Response:
    key = (request.params["project"], request.params["zone"], request.params["name"])
    if key not in world.instances:
        return not_found(_instance_path(*key))
    vm = world.instances.pop(key)
    return 200, world.operation(request, "delete", vm["selfLink"])


# --------------------------------------------------------------------------- operations
@route("GET", r"/(?:global|regions/(?P<region>[^/]+)|zones/(?P<zone>[^/]+))/operations/(?P<operation>[^/]+)")
def get_operation(world: World, request: Request) -> Response:
    op = world.operations.get(request.params["operation"])
    return (200, copy.deepcopy(op)) if op else not_found(request.path.removeprefix("/compute/v1/"))
