"""`rlcloud plan / up --provision-only / down` on Azure through the real CLI and the real SDK
clients, against the fake ARM server: every template, idempotence, what stays and what goes,
resources the user brought."""

from __future__ import annotations

import stat

import pytest

from provisioner import naming
from provisioner.clouds.azure.role import AUTOSCALER_ACTIONS
from provisioner.state import load_state, state_path
from tests.azure.cli_steps import SPECS, cluster_name, down, plan_actions, ray_config, up
from tests.azure.conftest import OPERATOR_IP, SUBSCRIPTION, AzureSubscription
from tests.support.cli import run_cli
from tests.support.specs import AZURE

NSG = "Microsoft.Network/networkSecurityGroups"
VNET = "Microsoft.Network/virtualNetworks"
PPG = "Microsoft.Compute/proximityPlacementGroups"
IDENTITY = "Microsoft.ManagedIdentity/userAssignedIdentities"
GROUP = "Microsoft.Resources/resourceGroups"


@pytest.mark.parametrize("which", sorted(SPECS))
def test_plan_up_reup_down_leaves_nothing(azure: AzureSubscription, which: str) -> None:
    text = SPECS[which]
    spec, cluster = azure.spec(text), cluster_name(text)
    rg = f"rlcloud-{cluster}"

    first = plan_actions(spec)
    assert azure.arm.mutations() == [], "plan must not change anything"
    assert set(first.values()) == {"create"} and f"resource_group {rg}" in first

    up(spec)
    group = next(g for g in azure.arm.of_type(GROUP) if g["name"] == rg)
    assert group["tags"] == {"rlcloud-cluster": cluster, "rlcloud-managed": "true"}
    for kind in (NSG, VNET):
        assert azure.one(kind)["tags"]["rlcloud-cluster"] == cluster
    identities = {i["name"]: i for i in azure.arm.of_type(IDENTITY)}
    blob = "checkpoint_uri: az://" in text  # the workers get an identity of their own
    assert set(identities) == {f"rlcloud-{cluster}-identity", *([f"rlcloud-{cluster}-worker"] if blob else [])}
    assert all(i["tags"]["rlcloud-cluster"] == cluster for i in identities.values())
    wants_ppg = "placement: proximity" in text
    assert len(azure.arm.of_type(PPG)) == (1 if wants_ppg else 0)
    assert stat.S_IMODE((naming.state_dir(cluster) / "ssh_key").stat().st_mode) == 0o600

    provider = ray_config(cluster)["provider"]
    assert provider["nsg"] == azure.one(NSG)["id"] and provider["msi"] == identities[f"rlcloud-{cluster}-identity"]["id"]
    assert provider["subnet"] == azure.one(VNET)["properties"]["subnets"][0]["id"]

    assert set(plan_actions(spec).values()) == {"keep"}
    azure.arm.clear_requests()
    up(spec)
    assert azure.arm.mutations() == [], f"the second up changed something: {azure.arm.mutations()}"

    result = down(spec)
    assert "nothing of it is left" in result.text
    if "create_bucket: true" in text:  # the checkpoints outlive the cluster, until purged
        assert "checkpoints kept" in result.text
        assert {r.split("/")[4] for r in azure.arm.everything()} == {f"rlcloud-{cluster}-data"}
        purged = run_cli("down", str(spec), "--yes", "--purge-storage")
        assert purged.code == 0, purged.text
    assert azure.arm.everything() == []
    state = load_state(cluster)
    assert state is not None and state.status == "down" and state.resources == []
    # Down again: nothing to do, and nothing deleted twice.
    azure.arm.clear_requests()
    assert "nothing to do" in down(spec).text and azure.arm.mutations() == []


def test_first_up_makes_exactly_these_calls(azure: AzureSubscription) -> None:
    """The apply order the failure tests walk through, one PUT per resource."""
    up(azure.spec(AZURE))
    rg = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rlcloud-t-azure/providers"
    assert [(r.method, r.path.replace(rg, "RG")) for r in azure.arm.mutations()] == [
        ("PUT", f"/subscriptions/{SUBSCRIPTION}/resourcegroups/rlcloud-t-azure"),
        ("PUT", "RG/Microsoft.Network/networkSecurityGroups/rlcloud-t-azure-nsg"),
        ("PUT", "RG/Microsoft.Network/virtualNetworks/rlcloud-t-azure-vnet"),
        ("PUT", "RG/Microsoft.Compute/proximityPlacementGroups/rlcloud-t-azure-ppg"),
        ("PUT", "RG/Microsoft.ManagedIdentity/userAssignedIdentities/rlcloud-t-azure-identity"),
        ("PUT", f"RG/Microsoft.Authorization/roleDefinitions/{_role_guid()}"),
        ("PUT", f"RG/Microsoft.Authorization/roleAssignments/{_assignment_guid()}"),
    ]


def _role_guid() -> str:
    return naming.azure_guid("role-definition", f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rlcloud-t-azure", "t-azure")


def _assignment_guid() -> str:
    return naming.azure_guid("role-assignment", f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rlcloud-t-azure", "t-azure")


def test_down_finds_everything_when_the_state_is_gone(azure: AzureSubscription) -> None:
    spec = azure.spec(AZURE)
    up(spec)
    state_path("t-azure").unlink()
    actions = plan_actions(spec, "plan")
    assert set(actions.values()) == {"keep"}  # found by name and tags, not from the state
    result = down(spec)
    assert "delete  resource_group" in result.text and "rlcloud-t-azure" in result.text
    assert azure.arm.everything() == []


def _team_group(azure: AzureSubscription) -> None:
    """A resource group the user owns, with something of theirs in it."""
    clients = azure.clients()
    clients.resource().resource_groups.create_or_update("team-rg", {"location": "eastus"})
    clients.network().network_security_groups.begin_create_or_update("team-rg", "their-nsg", {"location": "eastus"}).result()


def test_a_resource_group_the_user_named_is_kept_and_so_is_what_else_is_in_it(azure: AzureSubscription) -> None:
    _team_group(azure)
    spec = azure.spec(AZURE.replace("region: eastus", "region: eastus\nresource_group: team-rg"))
    actions = plan_actions(spec)
    assert actions["resource_group team-rg"] == "use"
    up(spec)
    assert ray_config("t-azure")["provider"]["resource_group"] == "team-rg"
    assert len(azure.arm.of_type(NSG)) == 2

    azure.arm.clear_requests()
    result = down(spec)
    assert "use     resource_group         team-rg" in result.text
    kept = sorted(azure.arm.everything())
    assert kept == [
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/team-rg",
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/team-rg/providers/{NSG}/their-nsg",
    ]
    # Referrers before what they refer to: the VNet (its subnet holds the NSG) before the NSG,
    # the role's assignment before the role, the role before the identity it was for.
    deleted = [r.path.rsplit("/", 2)[-2] for r in azure.arm.mutations() if r.method == "DELETE"]
    assert deleted.index("virtualNetworks") < deleted.index("networkSecurityGroups")
    assert deleted.index("roleAssignments") < deleted.index("roleDefinitions") < deleted.index("userAssignedIdentities")
    assert not any(r.path.endswith("/team-rg") for r in azure.arm.mutations())


def test_an_existing_vnet_and_subnet_are_used_and_left_alone(azure: AzureSubscription) -> None:
    _team_group(azure)
    clients = azure.clients()
    subnet = {"name": "nodes", "properties": {"addressPrefix": "10.20.1.0/24"}}
    body = {"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.20.0.0/16"]}, "subnets": [subnet]}}
    clients.network().virtual_networks.begin_create_or_update("team-rg", "their-vnet", body).result()
    before = azure.one(VNET)
    text = AZURE.replace("region: eastus", "region: eastus\nresource_group: team-rg").replace(
        "placement: proximity", "placement: proximity\n  vnet: their-vnet\n  subnet: nodes"
    )
    spec = azure.spec(text)
    assert plan_actions(spec)["subnet their-vnet/nodes"] == "use"
    up(spec)
    nsg = next(n for n in azure.arm.of_type(NSG) if n["name"] == "rlcloud-t-azure-nsg")
    intra = next(r for r in nsg["properties"]["securityRules"] if r["name"] == "rlcloud-intra-cluster")
    assert intra["properties"]["sourceAddressPrefix"] == "10.20.1.0/24"  # the subnet, not the VNet
    assert ray_config("t-azure")["provider"]["subnet"] == before["properties"]["subnets"][0]["id"]

    down(spec)
    assert azure.one(VNET) == before  # never changed, never deleted


def test_a_same_named_group_rlcloud_did_not_create_stops_up(azure: AzureSubscription) -> None:
    azure.clients().resource().resource_groups.create_or_update("rlcloud-t-azure", {"location": "eastus"})
    azure.arm.clear_requests()
    result = run_cli("up", str(azure.spec(AZURE)), "--yes", "--provision-only")
    assert result.code == 1 and "not created by rlcloud" in result.text and "resource_group: rlcloud-t-azure" in result.text
    assert [r.method for r in azure.arm.mutations()] == []
    assert "Traceback" not in result.text


def test_a_hand_opened_port_and_changed_ssh_cidrs_are_put_right(azure: AzureSubscription) -> None:
    spec = azure.spec(AZURE)
    up(spec)
    nsgs = azure.clients().network().network_security_groups
    nsg = nsgs.get("rlcloud-t-azure", "rlcloud-t-azure-nsg").as_dict()
    open_dashboard = {
        "name": "open-dashboard",
        "properties": {
            "priority": 200,
            "direction": "Inbound",
            "access": "Allow",
            "protocol": "Tcp",
            "sourceAddressPrefix": "*",
            "sourcePortRange": "*",
            "destinationAddressPrefix": "*",
            "destinationPortRange": "8265",
        },
    }
    nsg["properties"]["securityRules"].append(open_dashboard)
    nsgs.begin_create_or_update("rlcloud-t-azure", "rlcloud-t-azure-nsg", nsg).result()

    azure.spec(AZURE.replace("ssh_cidrs: [203.0.113.0/24]", "ssh_cidrs: auto"))
    plan = run_cli("plan", str(spec))
    assert "update  network_security_group rlcloud-t-azure-nsg  (change rlcloud-ssh, remove open-dashboard)" in plan.out
    up(spec)
    rules = {r["name"]: r["properties"] for r in azure.one(NSG)["properties"]["securityRules"]}
    assert set(rules) == {"rlcloud-ssh", "rlcloud-intra-cluster", "rlcloud-deny-inbound"}
    assert rules["rlcloud-ssh"]["sourceAddressPrefix"] == f"{OPERATOR_IP}/32"
    assert set(plan_actions(spec).values()) == {"keep"}


def test_the_role_grants_what_the_autoscaler_needs_at_the_group_only(azure: AzureSubscription) -> None:
    up(azure.spec(AZURE))
    [definition] = azure.arm.store.role_definitions.values()
    [assignment] = azure.arm.store.role_assignments.values()
    rg_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rlcloud-t-azure"
    assert definition["properties"]["assignableScopes"] == [rg_id]
    assert definition["properties"]["permissions"][0]["actions"] == list(AUTOSCALER_ACTIONS)
    assert assignment["properties"]["scope"] == rg_id
    assert assignment["properties"]["principalId"] == azure.one(IDENTITY)["properties"]["principalId"]
    assert assignment["properties"]["principalType"] == "ServicePrincipal"


def test_an_identity_the_user_brought_gets_the_role_and_is_never_deleted(azure: AzureSubscription) -> None:
    clients = azure.clients()
    clients.resource().resource_groups.create_or_update("team-rg", {"location": "eastus"})
    theirs = clients.identity().user_assigned_identities.create_or_update("team-rg", "team-identity", {"location": "eastus"})
    text = AZURE + f"identity:\n  managed_identity: {theirs.id}\n"
    spec = azure.spec(text)
    assert plan_actions(spec)["managed_identity team-identity"] == "use"
    up(spec)
    assert len(azure.arm.of_type(IDENTITY)) == 1  # none created
    assert ray_config("t-azure")["provider"]["msi"] == theirs.id
    [assignment] = azure.arm.store.role_assignments.values()
    assert assignment["properties"]["principalId"] == theirs.principal_id

    down(spec)
    left = azure.arm.everything()
    assert sorted(left) == [f"/subscriptions/{SUBSCRIPTION}/resourceGroups/team-rg", theirs.id]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("placement: proximity\n  vnet: v", "give both `vnet` and `subnet`"),
        ("placement: proximity\n  vnet: v\n  subnet: s", "set `resource_group`"),
    ],
)
def test_spec_errors_stop_before_any_azure_call(azure: AzureSubscription, change: str, words: str) -> None:
    result = run_cli("plan", str(azure.spec(AZURE.replace("placement: proximity", change))))
    assert result.code == 2 and words in result.text
    assert azure.arm.requests == []
