"""The Azure box's metadata service and RBAC, on loopback (no box needed): IMDS answers the VM
whose NIC has the caller's address (a VM on 127.0.0.4, the client bound to it), only with
`Metadata: true`, hands out tokens the box's directory knows as the VM's identity, serves
instance metadata and scheduled events (a Preempt, then the spot VM's eviction); and the
actions a Resource Manager request needs, evaluated against the ARM fake's assignments."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cloudbox.azure import rbac
from tests.cloudbox.azure.directory import Directory
from tests.cloudbox.azure.imds import AzureImds
from tests.cloudbox.azure.services import BoxArm, BoxBlobWorld
from tests.cloudbox.azure.trail import Trail

SUB = "11111111-2222-3333-4444-555555555555"
RG = f"/subscriptions/{SUB}/resourceGroups/rg"
VM_IP = "127.0.0.4"  # the store hands out .4 first, as Azure does


@pytest.fixture
def box() -> Iterator[tuple[AzureImds, dict[str, Any]]]:
    world = BoxBlobWorld()
    directory = Directory(world, "https://10.0.255.253")
    arm = BoxArm(directory, Trail(lambda _: None), world)
    world.rbac = arm.rbac
    store = arm.store
    store.put_group(SUB, "rg", {"location": "eastus"})
    subnet = {"name": "s", "properties": {"addressPrefix": "127.0.0.0/24"}}
    store.put_resource(
        SUB,
        "rg",
        "Microsoft.Network",
        "virtualNetworks",
        "v",
        {"properties": {"addressSpace": {"addressPrefixes": ["127.0.0.0/24"]}, "subnets": [subnet]}},
    )
    nic = {
        "properties": {
            "ipConfigurations": [{"name": "c", "properties": {"subnet": {"id": f"{RG}/providers/Microsoft.Network/virtualNetworks/v/subnets/s"}}}]
        }
    }
    store.put_resource(SUB, "rg", "Microsoft.Network", "networkInterfaces", "n", nic)
    identity, _ = store.put_resource(SUB, "rg", "Microsoft.ManagedIdentity", "userAssignedIdentities", "worker", {})
    vm = {
        "tags": {"ray-node-type": "worker"},
        "identity": {"type": "UserAssigned", "userAssignedIdentities": {identity["id"]: {}}},
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_NC4as_T4_v3"},
            "networkProfile": {"networkInterfaces": [{"id": f"{RG}/providers/Microsoft.Network/networkInterfaces/n"}]},
            "osProfile": {"computerName": "vm-one", "adminUsername": "ubuntu"},
            "priority": "Spot",
            "evictionPolicy": "Delete",
        },
    }
    store.put_resource(SUB, "rg", "Microsoft.Compute", "virtualMachines", "vm-one", vm)
    imds = AzureImds(arm, directory, Trail(lambda _: None)).start("127.0.0.1", 0)
    yield imds, identity["properties"]
    imds.shutdown()


def _get(imds: AzureImds, path: str, metadata: bool = True, source: str = VM_IP) -> tuple[int, Any]:
    assert imds._http is not None
    connection = http.client.HTTPConnection(
        "127.0.0.1", imds._http.port or int(imds._http.address.rsplit(":", 1)[1]), timeout=5, source_address=(source, 0)
    )
    connection.request("GET", path, headers={"Metadata": "true"} if metadata else {})
    answer = connection.getresponse()
    body = answer.read().decode()
    connection.close()
    try:
        return answer.status, json.loads(body)
    except ValueError:
        return answer.status, body


def test_tokens_act_as_the_vms_identity_by_client_id_or_its_only_one(box: tuple[AzureImds, dict[str, Any]]) -> None:
    imds, identity = box
    path = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com"
    assert _get(imds, path, metadata=False)[0] == 400
    assert _get(imds, f"{path}&client_id=00000000-dead-beef-0000-000000000000") == (
        400,
        {"error": "invalid_request", "error_description": "Identity not found"},
    )
    for query in (f"&client_id={identity['clientId']}", ""):
        status, body = _get(imds, path + query)
        assert status == 200 and body["client_id"] == identity["clientId"]
        assert imds.directory.who(f"Bearer {body['access_token']}") == (identity["principalId"], "https://storage.azure.com")
    assert _get(imds, path, source="127.0.0.1")[0] == 404  # not a VM's address


def test_instance_metadata_describes_the_calling_vm(box: tuple[AzureImds, dict[str, Any]]) -> None:
    imds, _ = box
    assert _get(imds, "/metadata/instance?api-version=2021-02-01", metadata=False)[0] == 400
    assert _get(imds, "/metadata/instance")[0] == 400  # no api-version
    status, doc = _get(imds, "/metadata/instance?api-version=2021-02-01")
    compute = doc["compute"]
    assert status == 200 and (compute["name"], compute["resourceGroupName"], compute["subscriptionId"]) == ("vm-one", "rg", SUB)
    assert (compute["vmSize"], compute["priority"], compute["tags"]) == ("Standard_NC4as_T4_v3", "Spot", "ray-node-type:worker")
    assert doc["network"]["interface"][0]["ipv4"]["ipAddress"][0]["privateIpAddress"] == VM_IP
    assert _get(imds, "/metadata/instance/compute/vmId?api-version=2021-02-01&format=text") == (200, compute["vmId"])


def test_a_preempt_event_comes_first_then_the_spot_vm_is_evicted(box: tuple[AzureImds, dict[str, Any]]) -> None:
    imds, _ = box
    path = "/metadata/scheduledevents?api-version=2020-07-01"
    assert _get(imds, path) == (200, {"DocumentIncarnation": 0, "Events": []})
    imds.preempt("vm-one", grace_s=0.3)
    status, events = _get(imds, path)
    assert status == 200 and events["DocumentIncarnation"] == 1
    assert [(e["EventType"], e["Resources"]) for e in events["Events"]] == [("Preempt", ["vm-one"])]
    deadline = time.monotonic() + 5
    while imds.arm.store.of_type("Microsoft.Compute/virtualMachines") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert imds.arm.store.of_type("Microsoft.Compute/virtualMachines") == []  # evictionPolicy: Delete


@pytest.mark.parametrize(
    ("method", "path", "action", "scope"),
    [
        ("GET", f"{RG}/providers/Microsoft.Compute/virtualMachines", "Microsoft.Compute/virtualMachines/read", RG),
        (
            "DELETE",
            f"{RG}/providers/Microsoft.Compute/virtualMachines/x",
            "Microsoft.Compute/virtualMachines/delete",
            f"{RG}/providers/Microsoft.Compute/virtualMachines/x",
        ),
        (
            "POST",
            f"{RG}/providers/Microsoft.Compute/virtualMachines/x/deallocate",
            "Microsoft.Compute/virtualMachines/deallocate/action",
            f"{RG}/providers/Microsoft.Compute/virtualMachines/x",
        ),
        (
            "GET",
            f"{RG}/providers/Microsoft.Compute/virtualMachines/x/instanceView",
            "Microsoft.Compute/virtualMachines/instanceView/read",
            f"{RG}/providers/Microsoft.Compute/virtualMachines/x",
        ),
        (
            "PUT",
            f"{RG}/providers/Microsoft.Storage/storageAccounts/a/blobServices/default/containers/c",
            "Microsoft.Storage/storageAccounts/blobServices/containers/write",
            f"{RG}/providers/Microsoft.Storage/storageAccounts/a/blobServices/default/containers/c",
        ),
        ("PUT", RG, "Microsoft.Resources/subscriptions/resourceGroups/write", RG),
        ("PUT", f"{RG}/providers/Microsoft.Authorization/roleAssignments/g", "Microsoft.Authorization/roleAssignments/write", RG),
    ],
)
def test_the_action_a_request_needs(method: str, path: str, action: str, scope: str) -> None:
    assert rbac.needs(method, path) == [rbac.Need(action, scope)]


def test_wildcards_and_scopes_as_azure_reads_them() -> None:
    operator = rbac.BUILTIN_ACTIONS[rbac.MANAGED_IDENTITY_OPERATOR]
    assert rbac.matches(operator, "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action")
    assert not rbac.matches(operator, "Microsoft.Compute/virtualMachines/write")
    assert rbac.covers(RG, f"{RG}/providers/x/y/z") and not rbac.covers(f"{RG}/providers/x/y/z", RG)
    assert not rbac.covers(RG, RG + "2")
