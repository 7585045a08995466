"""A GCP cluster rlcloud provisioned before head and workers got accounts of their own: one
account `rlcloud-NAME` for every node, holding the autoscaler role on the project, actAs on
itself and the checkpoint grant (so a worker could create and delete VMs). `up` brings it to
the new shape (the plan says what changes) and `down` removes it whole, with or without the
state file.

The old shape is made from a cluster the current code provisioned, its identity part rewound
to what the previous version left (world and state file alike: checked against a run of that
version on this fake), so everything else is exactly what `up` makes.
"""

from __future__ import annotations

from typing import Any

import pytest

from provisioner import naming
from provisioner.api import templates
from provisioner.state import CloudResource, delete_state, load_state, save_state
from tests.gcp.conftest import GcpProject
from tests.gcp.fake_gcp import errors
from tests.gcp.helpers import accounts, cluster_name, down, leftovers, others_bindings_kept, plan_rows, up
from tests.support.cli import run_cli

SPEC = next(t.text for t in templates() if t.name == "gcp-multi-node")
CLUSTER = cluster_name(SPEC)
BUCKET = f"rlcloud-{CLUSTER}-checkpoints"
EMAILS = accounts(CLUSTER)
AUTOSCALER, ACT_AS, CHECKPOINTS = "roles/compute.instanceAdmin.v1", "roles/iam.serviceAccountUser", "roles/storage.objectUser"
# The mutating calls of the migrating `up`, in order: each policy written once (grants and
# revocations together); the old account goes last, after everything it held was revoked.
MIGRATION_CALLS = [
    ("POST", "/v1/projects/my-rl-project/serviceAccounts"),
    ("POST", "/v1/projects/my-rl-project/serviceAccounts"),
    ("POST", "/v3/projects/my-rl-project:setIamPolicy"),
    ("POST", f"/v1/projects/my-rl-project/serviceAccounts/{EMAILS['worker']}:setIamPolicy"),
    ("PUT", f"/storage/v1/b/{BUCKET}/iam"),
    ("DELETE", f"/v1/projects/my-rl-project/serviceAccounts/{EMAILS['legacy']}"),
]


def _member(role: str) -> str:
    return f"serviceAccount:{EMAILS[role]}"


def _without(policy: dict[str, Any], members: set[str]) -> None:
    for binding in policy["bindings"]:
        binding["members"] = [m for m in binding["members"] if m not in members]
    policy["bindings"] = [b for b in policy["bindings"] if b["members"]]


def rewind_to_one_account(gcp: GcpProject) -> None:
    """Make the provisioned cluster what the version before the split left."""
    world = gcp.world
    for role in ("head", "worker"):
        del world.service_accounts[EMAILS[role]]
        world.account_policies.pop(EMAILS[role], None)
    split = {_member("head"), _member("worker")}
    _without(world.project_policy("my-rl-project"), split)
    _without(world.bucket_policies[BUCKET], split)
    legacy = world.add_account(
        "my-rl-project",
        EMAILS["legacy"].split("@")[0],
        f"{naming.gcp_managed_marker(CLUSTER)} Ray nodes of rlcloud cluster {CLUSTER}; deleted by `rlcloud down`.",
    )
    legacy["displayName"] = f"rlcloud {CLUSTER} nodes"
    autoscalers = next(b for b in world.project_policy("my-rl-project")["bindings"] if b["role"] == AUTOSCALER)  # shared with a seeded CI account
    autoscalers["members"].append(_member("legacy"))
    world.account_policies[EMAILS["legacy"]] = {"version": 1, "etag": "5b27edebe6d6", "bindings": [{"role": ACT_AS, "members": [_member("legacy")]}]}
    world.bucket_policies[BUCKET]["bindings"].append({"role": CHECKPOINTS, "members": [_member("legacy")], "condition": _checkpoint_condition()})

    state = load_state(CLUSTER)
    assert state is not None
    state.resources = [r for r in state.resources if r.kind not in ("service_account", "iam_binding")]
    state.record(CloudResource(kind="service_account", id=EMAILS["legacy"]))
    for target, resource, role in (
        ("project", "my-rl-project", AUTOSCALER),
        ("service_account", EMAILS["legacy"], ACT_AS),
        ("bucket", BUCKET, CHECKPOINTS),
    ):
        extra = {"target": target, "resource": resource, "role": role, "member": _member("legacy")}
        state.record(CloudResource(kind="iam_binding", id=f"{target}:{resource}:{role}", extra=extra))  # the old key had no member
    state.refs["service_account_email"] = EMAILS["legacy"]
    save_state(state)


def _checkpoint_condition() -> dict[str, str]:
    return {
        "title": f"rlcloud-{CLUSTER}-checkpoints",
        "description": f"Objects under gs://{BUCKET}/runs/ only",
        "expression": f'resource.name == "projects/_/buckets/{BUCKET}" || resource.name.startsWith("projects/_/buckets/{BUCKET}/objects/runs/")',
    }


def _without_vms(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snapshot.items() if k != "instances"}


@pytest.fixture
def legacy_cluster(gcp: GcpProject) -> dict[str, Any]:
    """A one-account cluster with a VM running as that account; returns what a fresh `up` of
    the same spec leaves (world snapshot and state resources) to compare a migration to."""
    spec = gcp.spec(SPEC)
    up(spec)
    fresh = {"world": gcp.world.snapshot(), "state": load_state(CLUSTER).resources}  # type: ignore[union-attr]
    rewind_to_one_account(gcp)
    vm = gcp.world.add_instance(f"ray-{CLUSTER}-worker-0123abcd-compute", {"ray-cluster-name": CLUSTER, naming.TAG_KEY: CLUSTER})
    vm["serviceAccounts"] = [{"email": EMAILS["legacy"], "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}]
    return fresh


def test_up_splits_the_one_account_and_the_plan_says_how(gcp: GcpProject, legacy_cluster: dict[str, Any]) -> None:
    spec = gcp.spec(SPEC)
    changes = [row for row in plan_rows(spec) if row[0] not in ("keep", "use")]
    legacy_id, head_id, worker_id = (EMAILS[r].split("@")[0] for r in ("legacy", "head", "worker"))
    prefix_only = _checkpoint_condition()["description"]
    assert changes == [
        ("create", "service_account", EMAILS["head"]),
        ("create", "service_account", EMAILS["worker"]),
        ("create", "iam_binding", f"{AUTOSCALER} on project my-rl-project to {head_id}"),
        ("delete", "iam_binding", f"{AUTOSCALER} on project my-rl-project to {legacy_id}"),
        ("create", "iam_binding", f"{ACT_AS} on service account {EMAILS['worker']} to {head_id}"),
        ("create", "iam_binding", f"{CHECKPOINTS} on bucket {BUCKET} to {head_id} ({prefix_only})"),
        ("create", "iam_binding", f"{CHECKPOINTS} on bucket {BUCKET} to {worker_id} ({prefix_only})"),
        ("delete", "iam_binding", f"{CHECKPOINTS} on bucket {BUCKET} to {legacy_id}"),
        ("delete", "service_account", EMAILS["legacy"]),
    ]

    mark = gcp.fake.mark()
    up(spec)
    assert [(c.method, c.path) for c in gcp.fake.mutations(mark)] == MIGRATION_CALLS
    assert not any("deleted:" in m for p in gcp.world.bucket_policies.values() for b in p["bindings"] for m in b["members"])
    # Exactly what a cluster made by this version has, in the project and in the state file.
    assert _without_vms(gcp.world.snapshot()) == _without_vms(legacy_cluster["world"])
    assert sorted(load_state(CLUSTER).resources, key=repr) == sorted(legacy_cluster["state"], key=repr)  # type: ignore[union-attr]
    assert {action for action, _, _ in plan_rows(spec)} <= {"keep", "use"}
    mark = gcp.fake.mark()
    up(spec)
    assert gcp.fake.mutations(mark) == []

    down(spec)
    assert leftovers(gcp.world, CLUSTER) == [] and others_bindings_kept(gcp)


@pytest.mark.parametrize("state", ["kept", "lost"])
def test_down_removes_a_one_account_cluster_whole(gcp: GcpProject, legacy_cluster: dict[str, Any], state: str) -> None:
    spec = gcp.spec(SPEC)
    if state == "lost":
        delete_state(CLUSTER)
    result = down(spec)
    legacy_id = EMAILS["legacy"].split("@")[0]
    assert f"delete  iam_binding            {AUTOSCALER} on project my-rl-project to {legacy_id}" in result.text
    assert f"delete  service_account        {EMAILS['legacy']}" in result.text
    assert leftovers(gcp.world, CLUSTER) == [] and others_bindings_kept(gcp)
    assert BUCKET in gcp.world.buckets  # checkpoints stay


@pytest.mark.parametrize("recovery", ["up", "down"])
@pytest.mark.parametrize("step", range(1, len(MIGRATION_CALLS) + 1))
def test_a_failure_at_each_step_of_the_migration_is_recovered(gcp: GcpProject, legacy_cluster: dict[str, Any], step: int, recovery: str) -> None:
    spec = gcp.spec(SPEC)
    gcp.fake.inject(errors.rate_limit_exceeded(), nth=step)
    failed = run_cli("up", str(spec), "--yes", "--provision-only")
    assert failed.code == 1 and "Rate Limit Exceeded" in failed.text and "Traceback" not in failed.text
    if recovery == "up":
        up(spec)
        assert _without_vms(gcp.world.snapshot()) == _without_vms(legacy_cluster["world"])
    down(spec)
    assert leftovers(gcp.world, CLUSTER) == [] and others_bindings_kept(gcp)
