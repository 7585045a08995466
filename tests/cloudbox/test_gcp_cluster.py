"""The whole GCP path in the cloud box, driven through the CLI as a user drives it:
`rlcloud up` (provisioning through the real Google SDKs, a real `ray up` over SSH, the head's
autoscaler launching the min workers through the API with the head's service account token
from the metadata server), a job that makes the autoscaler add nodes, the RL job
checkpointing to gs:// with the workers' service account and resuming when resubmitted, a
second `up` that changes nothing while a job runs, least privilege probed from inside a job,
and a `down` that leaves nothing but the checkpoints. One cluster for the module, in order."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cloudbox.conftest import REPO, Box, Run, json_lines
from tests.cloudbox.test_aws_cluster import _Follower

SPEC = str(REPO / "examples" / "cloudbox" / "gcp.yaml")
CLUSTER = "rl-box"
BUCKET = "rl-box-checkpoints"
PROJECT = "my-rl-project"
HEAD = f"serviceAccount:rlcloud-{CLUSTER}-head@{PROJECT}.iam.gserviceaccount.com"
WORKER = f"serviceAccount:rlcloud-{CLUSTER}-worker@{PROJECT}.iam.gserviceaccount.com"
ADMIN = f"serviceAccount:cloudbox-admin@{PROJECT}.iam.gserviceaccount.com"
INSTANCES = f"/compute/v1/projects/{PROJECT}/zones/us-central1-a/instances"

pytestmark = pytest.mark.cloudbox


class Cluster:
    def __init__(self, box: Box, up: Run, started: float) -> None:
        self.box = box
        self.up = up
        self.started = started

    def instances(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = self.box.world()["instances"]
        return {name: i for name, i in found.items() if i["labels"].get("ray-cluster-name") == CLUSTER}

    def live(self, node_type: str) -> dict[str, dict[str, Any]]:
        return {n: i for n, i in self.instances().items() if i["status"] == "RUNNING" and i["labels"].get("ray-user-node-type") == node_type}


def _mutating(call: dict[str, Any]) -> bool:
    return call["method"] != "GET" and not call["path"].endswith((":getIamPolicy", ":testIamPermissions", "/token"))


@pytest.fixture(scope="module")
def cluster(gcp_box: Box) -> Iterator[Cluster]:
    started = time.time()
    up = gcp_box.rlcloud("up", SPEC, "--yes", "--timeout", "420")
    found = Cluster(gcp_box, up, started)
    try:
        yield found
    finally:
        if found.instances():
            gcp_box.rlcloud("down", SPEC, "--yes", "--purge-storage")


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

    launches = [c for c in box.calls(cluster.started) if c["method"] == "POST" and c["path"] == INSTANCES and c["status"] == 200]
    # `ray up` launched the head as the operator; the head's autoscaler launched the learner
    # with the head's own service account, whose token it got from the metadata server.
    assert [c["member"] for c in launches] == [ADMIN, HEAD], launches
    assert launches[1]["source"] == head_vm["ip"]

    # Each node runs as its own account; the learner has gVNIC and the compact placement policy.
    assert head_vm["service_accounts"] == [HEAD.split(":", 1)[1]]
    assert learner_vm["service_accounts"] == [WORKER.split(":", 1)[1]]
    assert learner_vm["nic_type"] == "GVNIC" and learner_vm["resource_policies"] == [f"rlcloud-{CLUSTER}-compact"]

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
    assert {b["node"] for b in samplers} == {i["ip"] for i in launched.values()}
    assert len(launched) == 2 and {i["provisioning_model"] for i in launched.values()} == {"SPOT"}
    by_head = [c for c in box.calls(since) if c["method"] == "POST" and c["path"] == INSTANCES]
    assert len(by_head) >= 2 and {(c["member"], c["status"]) for c in by_head} == {(HEAD, 200)}


def test_the_rl_job_checkpoints_to_gcs_as_the_worker_resumes_and_survives_a_second_up(cluster: Cluster) -> None:
    box = cluster.box
    since = time.time()
    job = _Follower(box, "submit", SPEC, "--working-dir", str(REPO), "--", "python", "-m", "runtime.train", "--config", "examples/job.yaml")
    job.wait_for(r"^step 3/40", timeout_s=300)

    # `up` again while the job runs: no mutating call by the operator, Ray not restarted.
    again_at = time.time()
    again = box.rlcloud("up", SPEC, "--yes")
    assert again.code == 0, again.text
    assert "nothing changed (Ray was not restarted)" in again.text
    during = [c for c in box.calls(again_at) if c["member"] == ADMIN]
    assert during and [c for c in during if _mutating(c)] == []

    code, text = job.finish(timeout_s=900)
    assert code == 0, text[-3000:]
    done = re.search(r"done: step 40, mean reward ([0-9.]+) -> ([0-9.]+)", text)
    assert done and float(done.group(2)) >= float(done.group(1)) + 0.3, text[-2000:]

    objects = box.world()["objects"][BUCKET]
    assert any(k.startswith("runs/demo/manifests/") for k in objects) and any(k.startswith("runs/demo/data/") for k in objects)
    writes = [c for c in box.calls(since) if c["path"] == f"/upload/storage/v1/b/{BUCKET}/o" and c["status"] == 200]
    assert writes and {c["member"] for c in writes} == {WORKER}, {c["member"] for c in writes}

    # Resubmitted with a higher target, the run resumes from its newest checkpoint (step 40).
    more = box.rlcloud(
        "submit", SPEC, "--working-dir", str(REPO), "--", "python", "-m", "runtime.train", "--config", "examples/job.yaml", "--set", "max_steps=42"
    )
    assert more.code == 0, more.text[-3000:]
    assert re.search(r"resumed from step 40 ", more.out), more.out[-2000:]
    assert "done: step 42" in more.out


def test_the_workers_account_may_only_touch_its_checkpoint_prefix(cluster: Cluster) -> None:
    run = cluster.box.rlcloud("submit", SPEC, "--working-dir", str(REPO), "--", "python", "tests/cloudbox/probes/least_privilege.py")
    assert run.code == 0, run.text
    reports = json_lines(run.out)
    head = next(r for r in reports if r["where"].startswith("head"))
    workers = [r for r in reports if r["where"].startswith("worker")]
    assert workers, run.out
    for worker in workers:
        assert worker["identity"] == WORKER.split(":", 1)[1]
        assert worker["compute_list_instances"].startswith("403")
        assert worker["compute_delete"].startswith("403")
        assert worker["gcs_put_inside_prefix"] == "allowed" and worker["gcs_delete_inside_prefix"] == "allowed"
        assert worker["gcs_put_outside_prefix"].startswith("403")
        assert worker["gcs_list_buckets"].startswith("403")
    # The head's account lists instances (its autoscaler does) but writes no object outside the prefix.
    assert head["identity"] == HEAD.split(":", 1)[1]
    assert head["compute_list_instances"] == "allowed"
    assert head["gcs_put_outside_prefix"].startswith("403")


def test_the_head_deletes_idle_samplers_as_itself(cluster: Cluster) -> None:
    box = cluster.box
    samplers = set(cluster.live("sampler")) or {n for n, i in cluster.instances().items() if i["labels"].get("ray-user-node-type") == "sampler"}
    box.wait_for("idle samplers to be deleted (idle_timeout_minutes: 1)", lambda: not cluster.live("sampler"), timeout_s=240, poll_s=3)
    deletions = [
        c
        for c in box.calls(cluster.started)
        if c["method"] == "DELETE" and c["path"].startswith(INSTANCES + "/") and c["path"].rsplit("/", 1)[-1] in samplers
    ]
    assert deletions and {(c["member"], c["status"]) for c in deletions} == {(HEAD, 200)}, deletions
    assert len(cluster.live("learner")) == 1  # min_nodes stay


def test_down_leaves_nothing_but_the_checkpoints_unless_purged(cluster: Cluster) -> None:
    box = cluster.box
    down = box.rlcloud("down", SPEC, "--yes")
    assert down.code == 0, down.text
    assert "stopping Ray (`ray down`)" in down.text and "nothing of it is left running or billed" in down.text
    log = (Path(box.home) / "clusters" / CLUSTER / "ray-down.log").read_text()
    assert "Running `ray stop`" in log, log  # on the head, over SSH
    box.wait_for("the box to stop the VMs of deleted instances", lambda: box.running_vms() == [], timeout_s=10, poll_s=0.25)

    world = box.world()
    ours = f"rlcloud-{CLUSTER}"
    assert cluster.instances() == {}
    assert [f for f in world["firewalls"] if f.startswith(ours)] == []
    assert [p for p in world["resource_policies"] if p.startswith(ours)] == []
    assert [a for a in world["service_accounts"] if a.startswith(ours)] == []
    assert [m for m in world["project_members"] if ours in m] == []
    assert [m for m in world["bucket_members"][BUCKET] if ours in m] == []
    assert any(k.startswith("runs/demo/manifests/") for k in world["objects"][BUCKET])  # checkpoints kept

    again = box.rlcloud("down", SPEC, "--yes")
    assert again.code == 0 and "nothing to do" in again.text, again.text

    purged = box.rlcloud("down", SPEC, "--yes", "--purge-storage")
    assert purged.code == 0, purged.text
    assert BUCKET not in box.world()["buckets"]
