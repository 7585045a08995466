"""The whole Azure path in the cloud box, driven through the CLI as a user drives it:
`rlcloud up` (provisioning through the real Azure SDKs, signed in as a service principal, a
real `ray up` over SSH, the head's autoscaler launching the min workers through Resource
Manager with the head's managed identity from IMDS), a job that makes the autoscaler add spot
samplers, the RL job checkpointing to az:// with the workers' identity and resuming when
resubmitted, a second `up` that changes nothing while a job runs, least privilege probed
from inside a job, and a `down` that leaves nothing but the checkpoints. One cluster for the
module, in test order."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cloudbox.conftest import REPO, Box, Run, json_lines, start_box
from tests.cloudbox.test_aws_cluster import _Follower

SPEC = str(REPO / "examples" / "cloudbox" / "azure.yaml")
CLUSTER = "rl-box"
ACCOUNT, CONTAINER = "rlboxcheckpoints", "checkpoints"
HEAD = f"rlcloud-{CLUSTER}-identity"
WORKER = f"rlcloud-{CLUSTER}-worker"
ADMIN = "cloudbox-admin"
GROUP = f"/resourcegroups/rlcloud-{CLUSTER}/"
DEPLOYMENT = re.compile(r"(?i)/providers/microsoft\.resources/deployments/[^/]+$")
VM = re.compile(r"(?i)/providers/microsoft\.compute/virtualmachines/(?P<name>[^/]+)$")

pytestmark = pytest.mark.cloudbox


@pytest.fixture(scope="module")
def azure_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    yield from start_box("azure", tmp_path_factory)


class Cluster:
    def __init__(self, box: Box, up: Run, started: float) -> None:
        self.box = box
        self.up = up
        self.started = started

    def vms(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = self.box.world()["virtual_machines"]
        return {name: vm for name, vm in found.items() if vm["tags"].get("ray-cluster-name") == CLUSTER}

    def live(self, node_type: str) -> dict[str, dict[str, Any]]:
        return {n: vm for n, vm in self.vms().items() if vm["power_state"] == "running" and vm["tags"].get("ray-user-node-type") == node_type}

    def arm_calls(self, since: float, method: str, pattern: re.Pattern[str]) -> list[dict[str, Any]]:
        return [c for c in self.box.calls(since) if c["service"] == "arm" and c["method"] == method and pattern.search(c["path"])]


@pytest.fixture(scope="module")
def cluster(azure_box: Box) -> Iterator[Cluster]:
    started = time.time()
    up = azure_box.rlcloud("up", SPEC, "--yes", "--timeout", "420")
    found = Cluster(azure_box, up, started)
    try:
        yield found
    finally:
        if found.vms():
            azure_box.rlcloud("down", SPEC, "--yes", "--purge-storage")


def test_up_runs_ray_up_over_ssh_and_the_head_launches_the_min_workers_as_itself(cluster: Cluster) -> None:
    up, box = cluster.up, cluster.box
    assert up.code == 0, up.text
    assert "ray up: [1/7] Waiting for SSH to become available" in up.text
    assert "ray up: [7/7] Starting the Ray runtime" in up.text
    assert re.search(r"learner\s+1 active", up.text), up.text

    head, learner = cluster.live("ray.head.default"), cluster.live("learner")
    assert len(head) == 1 and len(learner) == 1
    head_vm, learner_vm = next(iter(head.values())), next(iter(learner.values()))
    assert {vm["ip"] for vm in box.running_vms()} == {head_vm["ip"], learner_vm["ip"]}

    # `ray up` deployed the head as the operator; the head's autoscaler deployed the learner
    # as the head's managed identity, whose token it got from IMDS.
    deployments = [c for c in cluster.arm_calls(cluster.started, "PUT", DEPLOYMENT) if c["status"] == 201]
    assert [c["name"] for c in deployments] == [ADMIN, HEAD], deployments
    assert deployments[1]["source"] == head_vm["ip"]
    tokens = [c for c in box.calls(cluster.started) if c["service"] == "imds" and c["status"] == 200 and c["source"] == head_vm["ip"]]
    assert tokens and {c["name"] for c in tokens} == {HEAD}

    # Each node carries its own identity; the learner is in the proximity placement group.
    assert head_vm["identities"] == [HEAD] and learner_vm["identities"] == [WORKER]
    assert learner_vm["placement_group"] == f"rlcloud-{CLUSTER}-ppg" and learner_vm["accelerated_networking"] == [True]
    assert learner_vm["vm_size"] == "Standard_ND96isr_H100_v5"

    status = box.rlcloud("status", SPEC)
    assert status.code == 0 and re.search(r"learner\s+1 active", status.out), status.text


def test_a_job_asking_for_more_nodes_makes_the_head_add_spot_samplers(cluster: Cluster) -> None:
    box = cluster.box
    since = time.time()
    run = box.rlcloud(
        "submit", SPEC, "--working-dir", str(REPO), "--", "python", "examples/placement_probe.py", "--samplers", "2", "--timeout", "300"
    )
    assert run.code == 0, run.text
    samplers = [b for b in json_lines(run.out)[-1]["bundles"] if b["role"].startswith("sampler")]
    assert len({b["node_id"] for b in samplers}) == 2  # SPREAD: one sampler node each
    launched = cluster.live("sampler")
    assert {b["node"] for b in samplers} == {vm["ip"] for vm in launched.values()}
    assert len(launched) == 2 and {vm["priority"] for vm in launched.values()} == {"Spot"}
    assert all(vm["identities"] == [WORKER] for vm in launched.values())
    by_head = cluster.arm_calls(since, "PUT", DEPLOYMENT)  # one deployment may make both (Ray's vmCount)
    assert by_head and {(c["name"], c["status"]) for c in by_head} == {(HEAD, 201)}


def test_the_rl_job_checkpoints_to_blob_as_the_worker_resumes_and_survives_a_second_up(cluster: Cluster) -> None:
    box = cluster.box
    since = time.time()
    job = _Follower(box, "submit", SPEC, "--working-dir", str(REPO), "--", "python", "-m", "runtime.train", "--config", "examples/job.yaml")
    job.wait_for(r"^step 3/40", timeout_s=300)

    # `up` again while the job runs: no mutating call by the operator, Ray not restarted.
    again_at = time.time()
    again = box.rlcloud("up", SPEC, "--yes")
    assert again.code == 0, again.text
    assert "nothing changed (Ray was not restarted)" in again.text
    during = [c for c in box.calls(again_at) if c["name"] == ADMIN and c["service"] == "arm"]
    assert during and [c for c in during if c["method"] != "GET"] == []

    code, text = job.finish(timeout_s=900)
    assert code == 0, text[-3000:]
    done = re.search(r"done: step 40, mean reward ([0-9.]+) -> ([0-9.]+)", text)
    assert done and float(done.group(2)) >= float(done.group(1)) + 0.3, text[-2000:]

    blobs = box.world()["blobs"][f"{ACCOUNT}/{CONTAINER}"]
    assert any(k.startswith("runs/demo/manifests/") for k in blobs) and any(k.startswith("runs/demo/data/") for k in blobs)
    writes = [c for c in box.calls(since) if c["service"] == "blob" and c["method"] == "PUT" and c["status"] == 201]
    assert writes and {c["name"] for c in writes} == {WORKER}, {c["name"] for c in writes}
    # The driver on the head only read (its newest-checkpoint check), as the head.
    head_reads = [c for c in box.calls(since) if c["service"] == "blob" and c["name"] == HEAD]
    assert head_reads and {c["method"] for c in head_reads} == {"GET"}

    # Resubmitted with a higher target, the run resumes from its newest checkpoint (step 40).
    more = box.rlcloud(
        "submit", SPEC, "--working-dir", str(REPO), "--", "python", "-m", "runtime.train", "--config", "examples/job.yaml", "--set", "max_steps=42"
    )
    assert more.code == 0, more.text[-3000:]
    assert re.search(r"resumed from step 40 ", more.out), more.out[-2000:]
    assert "done: step 42" in more.out


def test_the_workers_identity_may_only_touch_its_checkpoint_container(cluster: Cluster) -> None:
    box = cluster.box
    run = box.rlcloud("submit", SPEC, "--working-dir", str(REPO), "--", "python", "tests/cloudbox/probes/least_privilege.py")
    assert run.code == 0, run.text
    identities = box.world()["identities"]
    reports = json_lines(run.out)
    head = next(r for r in reports if r["where"].startswith("head"))
    workers = [r for r in reports if r["where"].startswith("worker")]
    assert workers, run.out
    for worker in workers:
        assert worker["identity"] == identities[WORKER]["client_id"]
        assert worker["compute_list_vms"] == "403 AuthorizationFailed"
        assert worker["compute_delete"] == "403 AuthorizationFailed"
        assert worker["blob_put_inside_container"] == "allowed" and worker["blob_delete_inside_container"] == "allowed"
        assert worker["blob_put_other_container"] == "403 AuthorizationPermissionMismatch"
        assert worker["blob_list_containers"] == "403 AuthorizationPermissionMismatch"
    # The head's identity lists VMs (its autoscaler does) and reads checkpoints, but writes none.
    assert head["identity"] == identities[HEAD]["client_id"]
    assert head["compute_list_vms"] == "allowed"
    assert head["blob_put_inside_container"] == "403 AuthorizationPermissionMismatch"
    assert head["blob_put_other_container"] == "403 AuthorizationPermissionMismatch"


def test_the_head_deletes_idle_samplers_as_itself(cluster: Cluster) -> None:
    box = cluster.box
    samplers = set(cluster.live("sampler")) or {n for n, vm in cluster.vms().items() if vm["tags"].get("ray-user-node-type") == "sampler"}
    box.wait_for("idle samplers to be deleted (idle_timeout_minutes: 1)", lambda: not cluster.live("sampler"), timeout_s=240, poll_s=3)
    deletions = [c for c in cluster.arm_calls(cluster.started, "DELETE", VM) if VM.search(c["path"]).group("name") in samplers]  # type: ignore[union-attr]
    assert deletions and {(c["name"], c["status"]) for c in deletions} == {(HEAD, 202)}, deletions
    assert len(cluster.live("learner")) == 1  # min_nodes stay


def test_down_leaves_nothing_but_the_checkpoints_unless_purged(cluster: Cluster) -> None:
    box = cluster.box
    down = box.rlcloud("down", SPEC, "--yes")
    assert down.code == 0, down.text
    assert "stopping Ray (`ray down`)" in down.text and "nothing of it is left running or billed" in down.text
    log = (Path(box.home) / "clusters" / CLUSTER / "ray-down.log").read_text()
    assert "Running `ray stop`" in log, log  # on the head, over SSH
    box.wait_for("the box to stop the VMs of deleted virtual machines", lambda: box.running_vms() == [], timeout_s=10, poll_s=0.25)

    world = box.world()
    assert cluster.vms() == {}
    assert [r for r in world["resources"] if GROUP in r.lower() or r.lower().endswith(GROUP.rstrip("/"))] == []
    assert world["role_assignments"] == [] and world["role_definitions"] == []
    assert world["identities"] == {}
    assert any(k.startswith("runs/demo/manifests/") for k in world["blobs"][f"{ACCOUNT}/{CONTAINER}"])  # checkpoints kept

    again = box.rlcloud("down", SPEC, "--yes")
    assert again.code == 0 and "nothing to do" in again.text, again.text

    purged = box.rlcloud("down", SPEC, "--yes", "--purge-storage")
    assert purged.code == 0, purged.text
    world = box.world()
    assert world["resources"] == [] and world["blobs"] == {}
