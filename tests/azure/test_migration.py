"""An Azure cluster rlcloud provisioned and Ray launched before workers went without an
identity: every VM carried the cluster's identity (and so the autoscaler's role), and the role
could assign that identity to the VMs the head made. `up` brings it to the new shape (the plan
says what changes) and `down` removes it whole.

The old shape is made from a cluster the current code provisioned and launched, rewound to what
the previous version left: the role with its two identity actions back, the identity on every
worker VM (as Ray's stock template put it there).
"""

from __future__ import annotations

import pytest

from provisioner.clouds.azure.role import AUTOSCALER_ACTIONS
from provisioner.clouds.azure.worker_identity import DRIFT
from tests.azure.cli_steps import down, plan_actions, up
from tests.azure.conftest import AzureSubscription
from tests.azure.fake_arm import AUTHORIZATION_FAILED
from tests.azure.test_node_provider import VM, _launch, _ray_provider
from tests.azure.test_security_audit import audit_node_identities
from tests.support.cli import run_cli
from tests.support.specs import AZURE

# What the previous version's role allowed besides today's: reading the identity and giving it
# to the VMs the autoscaler launched.
OLD_ACTIONS = [
    *AUTOSCALER_ACTIONS,
    "Microsoft.ManagedIdentity/userAssignedIdentities/read",
    "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
]


def _one_identity_for_all(azure: AzureSubscription, *, head: bool = True) -> list[str]:
    """`up`, a head (unless not needed) and two workers launched, then rewound; returns the
    workers' names."""
    up(azure.spec(AZURE))
    provider, config = _ray_provider("t-azure")
    workers = [_launch(provider, config, t) for t in ("learner", "sampler")]
    if head:
        _launch(provider, config, "ray.head.default")
    [definition] = azure.arm.store.role_definitions.values()
    definition["properties"]["permissions"][0]["actions"] = list(OLD_ACTIONS)
    msi = config["provider"]["msi"]
    machines = azure.clients().compute().virtual_machines
    for name in workers:
        machines.begin_update("rlcloud-t-azure", name, {"identity": {"type": "UserAssigned", "userAssignedIdentities": {msi: {}}}}).result()
    return sorted(workers)


def test_up_takes_the_identity_off_workers_and_narrows_the_role(azure: AzureSubscription) -> None:
    workers = _one_identity_for_all(azure)
    spec = azure.spec(AZURE)
    changes = {k: v for k, v in plan_actions(spec).items() if v != "keep"}
    [role] = [k for k in changes if k.startswith("role_definition ")]
    assert changes == {role: "update", **{f"virtual_machine {w}": "update" for w in workers}}
    plan = run_cli("plan", str(spec)).out
    assert "(permissions differ)" in plan and all(f"virtual_machine        {w}  ({DRIFT})" in plan for w in workers)

    azure.arm.clear_requests()
    up(spec)
    assert [(r.method, r.path.rsplit("/", 2)[-2]) for r in azure.arm.mutations()] == [
        ("PUT", "roleDefinitions"),
        *[("PATCH", "virtualMachines")] * len(workers),
    ]
    [definition] = azure.arm.store.role_definitions.values()
    assert definition["properties"]["permissions"][0]["actions"] == list(AUTOSCALER_ACTIONS)
    audit_node_identities(azure, "t-azure")  # the head keeps it; the workers carry none
    assert set(plan_actions(spec).values()) == {"keep"}
    azure.arm.clear_requests()
    up(spec)
    assert azure.arm.mutations() == []

    # Ray's head stopped first, as `ray down` does (which takes seconds here: it is tested
    # elsewhere); `down` then removes the workers, the role and all the rest.
    [head] = [vm["name"] for vm in azure.arm.of_type(VM) if vm["tags"]["ray-node-type"] == "head"]
    azure.clients().compute().virtual_machines.begin_delete("rlcloud-t-azure", head).result()
    down(spec)
    assert azure.arm.everything() == []


def test_another_identity_on_a_worker_stays(azure: AzureSubscription) -> None:
    """Only the cluster's identity is rlcloud's to take off; one someone added stays."""
    workers = _one_identity_for_all(azure, head=False)
    clients = azure.clients()
    theirs = clients.identity().user_assigned_identities.create_or_update("rlcloud-t-azure", "team-identity", {"location": "eastus"}).id
    clients.compute().virtual_machines.begin_update(
        "rlcloud-t-azure", workers[0], {"identity": {"type": "UserAssigned", "userAssignedIdentities": {theirs: {}}}}
    ).result()
    up(azure.spec(AZURE))
    vm = next(v for v in azure.arm.of_type("Microsoft.Compute/virtualMachines") if v["name"] == workers[0])
    assert vm["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {theirs: {}}}
    assert "identity" not in next(v for v in azure.arm.of_type("Microsoft.Compute/virtualMachines") if v["name"] == workers[1])


def test_down_removes_an_old_cluster_whole(azure: AzureSubscription) -> None:
    _one_identity_for_all(azure, head=False)
    down(azure.spec(AZURE))
    assert azure.arm.everything() == []


@pytest.mark.parametrize("step", range(1, 4))  # the role, then each worker
def test_a_failure_at_each_step_of_the_migration_is_recovered_by_up(azure: AzureSubscription, step: int) -> None:
    workers = _one_identity_for_all(azure, head=False)
    spec = azure.spec(AZURE)
    azure.arm.fail_nth_mutation(step, AUTHORIZATION_FAILED)
    failed = run_cli("up", str(spec), "--yes", "--provision-only")
    assert failed.code == 1 and "AuthorizationFailed" in failed.text and "Traceback" not in failed.text
    up(spec)
    vms = {vm["name"]: vm for vm in azure.arm.of_type(VM)}
    assert [name for name in workers if "identity" in vms[name]] == []
    [definition] = azure.arm.store.role_definitions.values()
    assert definition["properties"]["permissions"][0]["actions"] == list(AUTOSCALER_ACTIONS)
    down(spec)
    assert azure.arm.everything() == []
