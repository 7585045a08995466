"""The whole AWS path in the cloud box, driven through the CLI as a user drives it:
`rlcloud up` (plan, provisioning, a real `ray up` over SSH, the head's autoscaler launching
the min workers through the API with the head's role), jobs that make the autoscaler add
nodes, the RL job checkpointing to S3 with the workers' role, a second `up` that changes
nothing while a job runs, least privilege probed from inside a job, and a `down` that
leaves nothing. One cluster for the module, in test order."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.aws.aws_api import is_mutating
from tests.aws.leftovers import leftovers
from tests.cloudbox.conftest import REPO, Box, Run, json_lines

SPEC = str(REPO / "examples" / "cloudbox" / "aws.yaml")
CLUSTER = "rl-box"
BUCKET = "rl-box-checkpoints"
HEAD_ROLE = f"assumed-role/rlcloud-{CLUSTER}-head/"
WORKER_ROLE = f"assumed-role/rlcloud-{CLUSTER}-node/"
ADMIN = "user/cloudbox-admin"

pytestmark = pytest.mark.cloudbox


class Cluster:
    def __init__(self, box: Box, up: Run, started: float) -> None:
        self.box = box
        self.up = up
        self.started = started

    def instances(self) -> list[dict[str, Any]]:
        return [
            i
            for r in self.box.client("ec2").describe_instances()["Reservations"]
            for i in r["Instances"]
            if {"Key": "ray-cluster-name", "Value": CLUSTER} in i.get("Tags", [])
        ]

    def live(self, node_type: str) -> list[dict[str, Any]]:
        return [
            i for i in self.instances() if i["State"]["Name"] == "running" and {"Key": "ray-user-node-type", "Value": node_type} in i.get("Tags", [])
        ]


@pytest.fixture(scope="module")
def cluster(aws_box: Box) -> Iterator[Cluster]:
    started = time.time()
    up = aws_box.rlcloud("up", SPEC, "--yes", "--timeout", "420")
    found = Cluster(aws_box, up, started)
    try:
        yield found
    finally:
        if found.instances() and any(i["State"]["Name"] != "terminated" for i in found.instances()):
            aws_box.rlcloud("down", SPEC, "--yes", "--purge-storage")


def test_up_runs_ray_up_over_ssh_and_the_head_launches_the_min_workers(cluster: Cluster) -> None:
    up, box = cluster.up, cluster.box
    assert up.code == 0, up.text
    assert "ray up: [1/7] Waiting for SSH to become available" in up.text
    assert "ray up: [7/7] Starting the Ray runtime" in up.text
    assert re.search(r"learner\s+1 active", up.text), up.text

    head = cluster.live("ray.head.default")
    learner = cluster.live("learner")
    assert len(head) == 1 and len(learner) == 1
    assert {vm["ip"] for vm in box.running_vms()} == {head[0]["PrivateIpAddress"], learner[0]["PrivateIpAddress"]}

    launches = [r for r in box.trail(cluster.started) if r["action"] == "ec2:RunInstances" and r["decision"] == "allow"]
    # `ray up` launched the head with the operator's credentials; the head's autoscaler
    # launched the learner with the head's own role, from the head's address.
    assert ADMIN in launches[0]["principal"]
    by_head = [r for r in launches if HEAD_ROLE in r["principal"]]
    assert by_head and by_head[0]["source_ip"] == head[0]["PrivateIpAddress"]
    assert f"{HEAD_ROLE}{head[0]['InstanceId']}" in by_head[0]["principal"]

    # The learner is an EFA node in the cluster placement group, as rlcloud compiled it.
    interfaces = learner[0]["NetworkInterfaces"]
    assert len(interfaces) == 4 and {i["InterfaceType"] for i in interfaces} == {"efa"}
    assert learner[0]["Placement"]["GroupName"] == f"rlcloud-{CLUSTER}"
    assert learner[0]["IamInstanceProfile"]["Arn"].endswith(f"rlcloud-{CLUSTER}-node")

    status = box.rlcloud("status", SPEC)
    assert status.code == 0 and re.search(r"learner\s+1 active", status.out), status.text


def test_a_job_asking_for_more_nodes_makes_the_head_add_them(cluster: Cluster) -> None:
    box = cluster.box
    since = time.time()
    run = box.rlcloud(
        "submit", SPEC, "--working-dir", str(REPO), "--", "python", "examples/placement_probe.py", "--samplers", "2", "--timeout", "300"
    )
    assert run.code == 0, run.text
    report = json_lines(run.out)[-1]
    samplers = [b for b in report["bundles"] if b["role"].startswith("sampler")]
    assert len({b["node_id"] for b in samplers}) == 2  # SPREAD: one sampler node each
    launched = cluster.live("sampler")
    assert {b["node"] for b in samplers} == {i["PrivateIpAddress"] for i in launched}
    assert len(launched) == 2 and all(i.get("InstanceLifecycle") == "spot" for i in launched)
    sampler_launches = [r for r in box.trail(since) if r["action"] == "ec2:RunInstances" and HEAD_ROLE in r["principal"]]
    assert sampler_launches and all(r["decision"] == "allow" for r in sampler_launches)


class _Follower:
    """Reads a running `rlcloud submit` line by line, so the test can act mid-job."""

    def __init__(self, box: Box, *args: str) -> None:
        self.process = box.popen(*args)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_for(self, pattern: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(re.search(pattern, line) for line in self.lines):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"never printed {pattern!r}:\n{''.join(self.lines[-40:])}")
            time.sleep(0.5)

    def finish(self, timeout_s: float) -> tuple[int, str]:
        code = self.process.wait(timeout=timeout_s)
        self._reader.join(timeout=10)
        return code, "".join(self.lines)


def test_the_rl_job_learns_checkpoints_with_the_worker_role_and_survives_a_second_up(cluster: Cluster) -> None:
    box = cluster.box
    since = time.time()
    job = _Follower(box, "submit", SPEC, "--working-dir", str(REPO), "--", "python", "-m", "runtime.train", "--config", "examples/job.yaml")
    job.wait_for(r"^step 3/40", timeout_s=300)

    # `up` again while the job runs: no mutating call, Ray not restarted, the job goes on.
    again_at = time.time()
    again = box.rlcloud("up", SPEC, "--yes")
    assert again.code == 0, again.text
    assert "nothing changed (Ray was not restarted)" in again.text
    during = [r for r in box.trail(again_at) if ADMIN in r["principal"] and r["time"] < time.time()]
    assert during and [r["action"] for r in during if is_mutating(r["action"].split(":", 1)[1])] == []

    code, text = job.finish(timeout_s=900)
    assert code == 0, text[-3000:]
    done = re.search(r"done: step 40, mean reward ([0-9.]+) -> ([0-9.]+)", text)
    assert done, text[-2000:]
    first, last = float(done.group(1)), float(done.group(2))
    assert last >= first + 0.3, f"reward did not rise enough: {first} -> {last}"

    objects = [o["Key"] for o in box.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="runs/demo/")["Contents"]]
    assert any(k.startswith("runs/demo/manifests/") for k in objects) and any(k.startswith("runs/demo/data/") for k in objects)
    writes = [
        r
        for r in box.trail(since)
        if r["action"] in ("s3:PutObject", "s3:CreateMultipartUpload") and any("/runs/demo/data/" in x for x in r["resources"])
    ]
    assert writes and {WORKER_ROLE in r["principal"] for r in writes} == {True}, {r["principal"] for r in writes}


def test_the_workers_role_may_only_touch_its_checkpoint_prefix(cluster: Cluster) -> None:
    run = cluster.box.rlcloud("submit", SPEC, "--working-dir", str(REPO), "--", "python", "tests/cloudbox/probes/least_privilege.py")
    assert run.code == 0, run.text
    reports = {r["where"].split()[0]: r for r in json_lines(run.out)}
    head, workers = reports.pop("head"), [r for r in json_lines(run.out) if r["where"].startswith("worker")]
    assert workers, run.out
    for worker in workers:
        assert WORKER_ROLE in worker["identity"]
        assert worker["ec2_describe_instances"] == "UnauthorizedOperation"
        assert worker["ec2_terminate"] == "UnauthorizedOperation"
        assert worker["s3_put_inside_prefix"] == "allowed" and worker["s3_delete_inside_prefix"] == "allowed"
        assert worker["s3_put_outside_prefix"] == "AccessDenied"
        assert worker["s3_list_buckets"] == "AccessDenied"
    # The head's role reads EC2 (the autoscaler does) but cannot terminate what is not the cluster's.
    assert HEAD_ROLE in head["identity"]
    assert head["ec2_describe_instances"] == "allowed"
    assert head["ec2_terminate"] == "UnauthorizedOperation"
    assert head["s3_put_outside_prefix"] == "AccessDenied"


def test_the_head_terminates_idle_workers_with_its_own_role(cluster: Cluster) -> None:
    box = cluster.box
    box.wait_for("idle samplers to be terminated (idle_timeout_minutes: 1)", lambda: not cluster.live("sampler"), timeout_s=240, poll_s=3)
    samplers = {i["InstanceId"] for i in cluster.instances() if {"Key": "ray-user-node-type", "Value": "sampler"} in i.get("Tags", [])}
    terminations = [
        r
        for r in box.trail(cluster.started)
        if r["action"] == "ec2:TerminateInstances" and any(x.rsplit("/", 1)[-1] in samplers for x in r["resources"])
    ]
    assert terminations and all(HEAD_ROLE in r["principal"] and r["decision"] == "allow" for r in terminations), terminations
    assert len(cluster.live("learner")) == 1  # min_nodes stay


def test_down_runs_ray_down_over_ssh_and_leaves_nothing(cluster: Cluster) -> None:
    box = cluster.box
    down = box.rlcloud("down", SPEC, "--yes")
    assert down.code == 0, down.text
    assert "stopping Ray (`ray down`)" in down.text and "nothing of it is left running or billed" in down.text
    ray_down_log = Path(box.home) / "clusters" / CLUSTER / "ray-down.log"
    log = ray_down_log.read_text()
    assert "Running `ray stop`" in log and re.search(r"\d+/\d+ stopped", log), log  # on the head, over SSH
    box.wait_for("the box to stop the VMs of terminated instances", lambda: box.running_vms() == [], timeout_s=10, poll_s=0.25)
    assert {i["State"]["Name"] for i in cluster.instances()} == {"terminated"}
    assert leftovers(box, CLUSTER, keep_bucket=BUCKET) == []  # type: ignore[arg-type]
    again = box.rlcloud("down", SPEC, "--yes")
    assert again.code == 0 and "nothing to do" in again.text
