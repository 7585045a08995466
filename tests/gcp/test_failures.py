"""A failure at each step of `up` (and of `down`): the command exits 1 with Google's message
and what to do next, and both a re-run of `up` and `down` recover, leaving exactly what a
clean run leaves."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from provisioner import naming
from provisioner.api import templates
from tests.gcp.conftest import GcpProject
from tests.gcp.fake_gcp import errors
from tests.gcp.helpers import accounts, cluster_name, down, leftovers, others_bindings_kept, up
from tests.support.cli import run_cli

SPEC = next(t.text for t in templates() if t.name == "gcp-multi-node")  # every kind of resource
CLUSTER = cluster_name(SPEC)
HEAD, WORKER = accounts(CLUSTER)["head"], accounts(CLUSTER)["worker"]
BUCKET = f"rlcloud-{CLUSTER}-checkpoints"

# The mutating calls of a clean `up`, in order: the steps a failure is injected into.
UP_STEPS = [
    ("POST", "/compute/v1/projects/my-rl-project/global/firewalls"),
    ("POST", "/compute/v1/projects/my-rl-project/global/firewalls"),
    ("POST", "/compute/v1/projects/my-rl-project/global/firewalls"),
    ("POST", "/compute/v1/projects/my-rl-project/regions/us-central1/resourcePolicies"),
    ("POST", "/v1/projects/my-rl-project/serviceAccounts"),  # the head's account
    ("POST", "/v1/projects/my-rl-project/serviceAccounts"),  # the workers'
    ("POST", "/v3/projects/my-rl-project:setIamPolicy"),  # the head's autoscaler role
    ("POST", f"/v1/projects/my-rl-project/serviceAccounts/{WORKER}:setIamPolicy"),  # the head may act as the worker account
    ("POST", "/storage/v1/b"),
    ("PUT", f"/storage/v1/b/{BUCKET}/iam"),  # head and workers: checkpoints, in one write
]
# `down`: bindings before the accounts they name, the worker's account (whose policy names
# the head) before the head's. The placement policy and the firewall rules depend on nothing
# here (no VMs) and go in parallel with the bindings, so in any order among the rest.
DOWN_STEPS = [
    ("PUT", f"/storage/v1/b/{BUCKET}/iam"),
    ("POST", "/v3/projects/my-rl-project:setIamPolicy"),
    ("DELETE", f"/v1/projects/my-rl-project/serviceAccounts/{WORKER}"),
    ("DELETE", f"/v1/projects/my-rl-project/serviceAccounts/{HEAD}"),
    ("DELETE", f"/compute/v1/projects/my-rl-project/regions/us-central1/resourcePolicies/rlcloud-{CLUSTER}-compact"),
    ("DELETE", f"/compute/v1/projects/my-rl-project/global/firewalls/rlcloud-{CLUSTER}-internal"),
    ("DELETE", f"/compute/v1/projects/my-rl-project/global/firewalls/rlcloud-{CLUSTER}-ssh"),
    ("DELETE", f"/compute/v1/projects/my-rl-project/global/firewalls/rlcloud-{CLUSTER}-deny"),
]
_clean: dict[str, Any] = {}


def clean_up_snapshot(gcp: GcpProject) -> dict[str, Any]:
    """What the project holds after a clean `up` (computed once, in a world then reset)."""
    if "snapshot" not in _clean:
        up(gcp.spec(SPEC, "clean.yaml"))
        _clean["snapshot"] = gcp.world.snapshot()
        gcp.fake.reset()
        shutil.rmtree(naming.state_dir(CLUSTER))
    return _clean["snapshot"]


def test_clean_up_makes_exactly_these_changes_in_dependency_order(gcp: GcpProject) -> None:
    mark = gcp.fake.mark()
    up(gcp.spec(SPEC))
    assert [(c.method, c.path) for c in gcp.fake.mutations(mark)] == UP_STEPS
    mark = gcp.fake.mark()
    down(gcp.spec(SPEC))
    made = [(c.method, c.path) for c in gcp.fake.mutations(mark)]
    assert sorted(made) == sorted(DOWN_STEPS), made
    bucket_grants, project_grants, worker, head = (made.index(step) for step in DOWN_STEPS[:4])
    assert max(bucket_grants, project_grants) < worker < head, made


def _failed_up(gcp: GcpProject, failure: errors.HttpFailure | errors.OperationFailure, step: int, *, after_apply: bool = False) -> str:
    gcp.fake.inject(failure, nth=step, after_apply=after_apply)
    result = run_cli("up", str(gcp.spec(SPEC)), "--yes", "--provision-only")
    assert result.code == 1, result.text
    assert "Traceback" not in result.text
    return result.text


@pytest.mark.parametrize("recovery", ["up", "down"])
@pytest.mark.parametrize("step", range(1, len(UP_STEPS) + 1))
def test_failure_at_each_up_step_then_up_or_down_recovers(gcp: GcpProject, step: int, recovery: str) -> None:
    snapshot = clean_up_snapshot(gcp)
    text = _failed_up(gcp, errors.quota_exceeded(), step)
    assert "Quota 'FIREWALLS' exceeded" in text and "hint: a quota or rate limit was hit" in text
    assert len(gcp.fake.mutations()) == step  # it stopped at the failure
    if recovery == "up":
        up(gcp.spec(SPEC))
        assert gcp.world.snapshot() == snapshot
    down(gcp.spec(SPEC))
    assert leftovers(gcp.world, CLUSTER) == [] and others_bindings_kept(gcp)


@pytest.mark.parametrize("step", range(1, len(UP_STEPS) + 1))
def test_lost_answer_at_each_up_step_is_adopted_by_the_next_up(gcp: GcpProject, step: int) -> None:
    """The change happened but the caller saw an error: the next `up` recognises what it made."""
    snapshot = clean_up_snapshot(gcp)
    # Not a 5xx: the storage client retries those itself (and then adopts what it made).
    _failed_up(gcp, errors.rate_limit_exceeded(), step, after_apply=True)
    up(gcp.spec(SPEC))
    assert gcp.world.snapshot() == snapshot
    down(gcp.spec(SPEC))
    assert leftovers(gcp.world, CLUSTER) == []


@pytest.mark.parametrize(
    "failure, says",
    [
        (errors.quota_exceeded(), "ask for more quota at https://console.cloud.google.com/iam-admin/quotas?project=my-rl-project"),
        (errors.rate_limit_exceeded(), "a quota or rate limit was hit"),
        (errors.unauthenticated(), "gcloud auth application-default login"),
        (errors.permission_denied(), "lacks a permission; it needs roles/compute.securityAdmin"),
        (errors.zone_resource_pool_exhausted(), "no capacity for this machine type right now"),
        (errors.regional_quota_exceeded(), "a quota or rate limit was hit"),
    ],
    ids=lambda value: getattr(value, "name", None) or "",
)
def test_each_kind_of_google_error_is_a_cloud_error_saying_what_to_do(gcp: GcpProject, failure: Any, says: str) -> None:
    text = _failed_up(gcp, failure, 1)
    message = failure.message if isinstance(failure, errors.OperationFailure) else failure.body["error"]["message"]
    assert f"create firewall_rule rlcloud-{CLUSTER}-internal: GCP said " in text and says in text
    if failure.name == "unauthenticated":
        # google-auth answers a 401 by refreshing the token, which anonymous credentials cannot.
        assert "GCP said 401 UNAUTHENTICATED: " in text
    else:
        assert message.split(".")[0] in text


def test_permission_denied_on_iam_names_the_step(gcp: GcpProject) -> None:
    text = _failed_up(gcp, errors.permission_denied("iam.serviceAccounts.create"), 5)
    assert f"create service_account {HEAD}: GCP said 403 PERMISSION_DENIED: Permission 'iam.serviceAccounts.create' denied" in text
    assert "roles/iam.serviceAccountAdmin" in text


@pytest.mark.parametrize("step", range(1, len(DOWN_STEPS) + 1))
def test_failure_at_each_down_step_is_reported_then_down_again_finishes(gcp: GcpProject, step: int) -> None:
    spec = gcp.spec(SPEC)
    up(spec)
    gcp.fake.inject(errors.rate_limit_exceeded(), nth=step)
    result = run_cli("down", str(spec), "--yes")
    assert result.code == 1 and "could not remove everything" in result.text, result.text
    assert "Rate Limit Exceeded" in result.text and "gcloud " in result.text and "Traceback" not in result.text
    down(spec)
    assert leftovers(gcp.world, CLUSTER) == [] and others_bindings_kept(gcp)
