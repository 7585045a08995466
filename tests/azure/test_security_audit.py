"""Security audit of what `up` leaves on Azure, read back from the (fake) cloud after the real
CLI ran, against the README's security model:

- No Ray port is reachable from outside the cluster; from outside, SSH only, from the spec's
  CIDRs. Evaluated as Azure evaluates an NSG (nsg_audit.py), default rules included: Azure's
  own AllowVnetInBound would let peered networks reach Ray's ports.
- Least privilege: the cluster's identity holds one role, assigned at the cluster's resource
  group, allowing what the autoscaler does and nothing that widens access; no subscription
  scope, no Owner / Contributor. Only the head VM carries that identity; worker VMs (they run
  model-generated code, and checkpoint to S3) carry none, so they cannot call Azure at all.
"""

from __future__ import annotations

import ipaddress
import re

import pytest

from provisioner.clouds.azure.arm import rest_json
from provisioner.clouds.azure.role import AUTOSCALER_ACTIONS
from tests.azure.cli_steps import SPECS, cluster_name, ray_config, up
from tests.azure.conftest import OPERATOR_IP, SUBSCRIPTION, AzureSubscription
from tests.azure.nsg_audit import AZURE_LOAD_BALANCER, Network, inbound
from tests.azure.test_node_provider import VM, _launch, _ray_provider
from tests.support.specs import AZURE

# Ray's GCS, object manager, dashboard / Jobs API, client server, dashboard agent, metrics,
# runtime-env agent, and a spread of worker ports.
RAY_PORTS = (6379, 8076, 8265, 10001, 52365, 8080, 44217, 10002, 19999)
BUILT_IN_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
}
PEERED = "172.16.0.0/16"  # a network peered with the VNet: in Azure's VirtualNetwork tag
NODE, NEIGHBOUR = "10.0.0.5", "10.0.0.9"


def _ssh_cidr(text: str) -> str:
    listed = re.search(r"ssh_cidrs: \[([^\]]+)\]", text)
    return listed.group(1) if listed else f"{OPERATOR_IP}/32"


@pytest.mark.parametrize("which", sorted(SPECS))
def test_only_ssh_from_the_spec_cidrs_reaches_the_nodes(azure: AzureSubscription, which: str) -> None:
    text = SPECS[which]
    up(azure.spec(text))
    [nsg] = azure.arm.of_type("Microsoft.Network/networkSecurityGroups")
    [vnet] = azure.arm.of_type("Microsoft.Network/virtualNetworks")
    network = Network(virtual_network=(*vnet["properties"]["addressSpace"]["addressPrefixes"], PEERED))
    operator = str(next(iter(ipaddress.ip_network(_ssh_cidr(text)).hosts())))

    assert inbound(nsg, network, operator, NODE, 22).startswith("Allow")
    outsiders = {"operator": operator, "internet": "8.8.8.8", "peered network": "172.16.3.4", "load balancer": AZURE_LOAD_BALANCER}
    for who, source in outsiders.items():
        for port in RAY_PORTS:
            decision = inbound(nsg, network, source, NODE, port)
            assert decision.startswith("Deny"), f"{who} {source} reaches Ray port {port}: {decision}"
        if who != "operator":
            assert inbound(nsg, network, source, NODE, 22).startswith("Deny"), f"{who} reaches SSH"
        assert inbound(nsg, network, source, NODE, 22, protocol="Udp").startswith("Deny")
    for port in (*RAY_PORTS, 22):  # within the cluster's subnet, everything
        assert inbound(nsg, network, NEIGHBOUR, NODE, port).startswith("Allow"), port

    # The NSG guards the subnet itself, so a NIC made without it is still behind it.
    subnet = vnet["properties"]["subnets"][0]
    assert subnet["properties"]["networkSecurityGroup"]["id"] == nsg["id"]
    assert ray_config(cluster_name(text))["provider"]["nsg"] == nsg["id"]


def test_public_ssh_opens_port_22_only_and_says_so(azure: AzureSubscription) -> None:
    text = AZURE.replace("ssh_cidrs: [203.0.113.0/24]", "ssh_cidrs: [0.0.0.0/0]\n  allow_public_ssh: true")
    output = up(azure.spec(text))
    assert "open to the whole internet" in output
    [nsg] = azure.arm.of_type("Microsoft.Network/networkSecurityGroups")
    network = Network(virtual_network=("10.0.0.0/16",))
    assert inbound(nsg, network, "8.8.8.8", NODE, 22).startswith("Allow")
    assert all(inbound(nsg, network, "8.8.8.8", NODE, p).startswith("Deny") for p in RAY_PORTS)


def test_the_nodes_identity_has_one_narrow_role_at_the_group(azure: AzureSubscription) -> None:
    up(azure.spec(AZURE))
    rg_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rlcloud-t-azure"
    [identity] = azure.arm.of_type("Microsoft.ManagedIdentity/userAssignedIdentities")
    principal = identity["properties"]["principalId"]
    assignments = [a["properties"] for a in azure.arm.store.role_assignments.values() if a["properties"]["principalId"] == principal]
    assert [a["scope"] for a in assignments] == [rg_id]  # nothing at the subscription
    [definition] = [d for d in azure.arm.store.role_definitions.values() if d["id"] == assignments[0]["roleDefinitionId"]]
    assert definition["name"] not in BUILT_IN_ROLES and definition["properties"]["type"] == "CustomRole"
    assert definition["properties"]["assignableScopes"] == [rg_id]
    actions = definition["properties"]["permissions"][0]["actions"]
    widening = [
        a
        for a in actions
        if "*" in a
        or a.startswith(("Microsoft.Authorization/", "Microsoft.Storage/", "Microsoft.KeyVault/"))
        or re.match(r"Microsoft\.Network/(networkSecurityGroups|virtualNetworks)(/subnets)?/(write|delete)$", a)
        or re.match(r"Microsoft\.ManagedIdentity/userAssignedIdentities/(write|delete)$", a)
    ]
    assert widening == [], f"the role could widen access: {widening}"


def audit_node_identities(azure: AzureSubscription, cluster: str) -> None:
    """Every VM of the cluster, read back through the SDK: the head carries the cluster's
    identity (the one the autoscaler role is assigned to) and nothing else; workers none."""
    msi = ray_config(cluster)["provider"]["msi"]
    vms = [rest_json(vm) for vm in azure.clients().compute().virtual_machines.list(f"rlcloud-{cluster}")]
    kinds = sorted(vm["tags"]["ray-node-type"] for vm in vms)
    assert kinds.count("head") == 1 and "worker" in kinds, kinds
    for vm in vms:
        if vm["tags"]["ray-node-type"] == "head":
            assert vm["identity"]["type"] == "UserAssigned" and [k.lower() for k in vm["identity"]["userAssignedIdentities"]] == [msi.lower()]
        else:
            assert (vm.get("identity") or {}).get("type", "None") == "None", f"worker {vm['name']} has an identity: {vm['identity']}"
    principal = next(i for i in azure.arm.of_type("Microsoft.ManagedIdentity/userAssignedIdentities") if i["id"].lower() == msi.lower())[
        "properties"
    ]["principalId"]
    assert {a["properties"]["principalId"] for a in azure.arm.store.role_assignments.values()} == {principal}


def _nodes(azure: AzureSubscription) -> list[str]:
    """`up`, then a head and one worker of each type, as Ray launches them."""
    up(azure.spec(AZURE))
    provider, config = _ray_provider("t-azure")
    return [_launch(provider, config, t) for t in ("ray.head.default", "learner", "sampler")]


def test_only_the_head_carries_the_clusters_identity_and_the_audit_would_see_a_worker_with_it(azure: AzureSubscription) -> None:
    _head, _learner, sampler = _nodes(azure)
    audit_node_identities(azure, "t-azure")
    # The audit can fail: a worker given the identity (and so the autoscaler's role).
    msi = ray_config("t-azure")["provider"]["msi"]
    machines = azure.clients().compute().virtual_machines
    machines.begin_update("rlcloud-t-azure", sampler, {"identity": {"type": "UserAssigned", "userAssignedIdentities": {msi: {}}}}).result()
    with pytest.raises(AssertionError, match=f"worker {sampler} has an identity"):
        audit_node_identities(azure, "t-azure")


def _action(method: str, path: str) -> str:
    """The RBAC action ARM checks for a request."""
    if re.search(r"/resourcegroups/[^/]+$", path, re.I):
        return "Microsoft.Resources/subscriptions/resourceGroups/read"
    namespace, *rest = path.split("/providers/", 1)[1].split("/")  # TYPE[/NAME[/ACTION | /CHILD/NAME]]
    if len(rest) == 3:  # e.g. virtualMachines/NAME/instanceView (GET), .../deallocate (POST)
        return f"{namespace}/{rest[0]}/{rest[2]}/{'read' if method == 'GET' else 'action'}"
    verb = {"GET": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}[method]
    return f"{namespace}/{'/'.join(rest[0::2])}/{verb}"


def test_the_role_allows_every_call_the_autoscaler_makes(azure: AzureSubscription) -> None:
    """Drive Ray's autoscaler code (through rlcloud's provider) on the fake: launch, list,
    tag and terminate nodes; every request it sent, and every resource its deployments made
    or joined, must be allowed by the role. A call the role lacks would fail on the head."""
    up(azure.spec(AZURE))
    provider, config = _ray_provider("t-azure")
    azure.arm.clear_requests()
    node = _launch(provider, config, "learner")
    carries_identity = "identity" in next(vm for vm in azure.arm.of_type(VM) if vm["name"] == node)
    provider.set_node_tags(node, {"ray-node-status": "up-to-date"})
    provider.terminate_node(node)
    provider.terminating_nodes[node].result()

    needed = {_action(r.method, r.path) for r in azure.arm.requests}
    # ARM checks a deployment's resources, and what they reference, against the deployer too.
    needed |= {
        "Microsoft.Network/publicIPAddresses/write",
        "Microsoft.Network/networkInterfaces/write",
        "Microsoft.Compute/virtualMachines/write",
        "Microsoft.Network/virtualNetworks/subnets/join/action",
        "Microsoft.Network/networkSecurityGroups/join/action",
        "Microsoft.Network/publicIPAddresses/join/action",
        "Microsoft.Network/networkInterfaces/join/action",
        "Microsoft.Compute/proximityPlacementGroups/write",
    }
    # Giving a VM an identity needs `assign` on it; the workers the autoscaler launches get none.
    if carries_identity:
        needed.add("Microsoft.ManagedIdentity/userAssignedIdentities/assign/action")
    missing = sorted(needed - set(AUTOSCALER_ACTIONS))
    assert missing == [], f"the autoscaler's role lacks {missing}"
    assert "Microsoft.Resources/deployments/write" in needed and "Microsoft.Compute/virtualMachines/delete" in needed
    # ... and nothing more on identities: the head cannot hand its own identity to a VM it makes.
    assert not [a for a in AUTOSCALER_ACTIONS if a.startswith("Microsoft.ManagedIdentity/")]
