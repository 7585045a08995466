"""`rlcloud submit` / `rlcloud jobs` on an AWS cluster go through an SSH tunnel to the head
found in EC2, with the cluster's key and token. The `ssh` process is replaced at its boundary
(RLCLOUD_SSH=tests/support/fake_ssh.py), and a local Ray head stands in for the EC2 head's
dashboard; everything from the spec to the Jobs API call is rlcloud's real path."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from provisioner import api, naming
from provisioner.state import load_state
from tests.aws.conftest import AwsAccount
from tests.support.cli import run_cli

REPO = Path(__file__).resolve().parents[2]
STAND_IN = """\
name: t-jobs-head
cloud: local
head:
  cpus: 1
"""
CLUSTER = """\
name: t-jobs
cloud: aws
region: us-west-2
zone: us-west-2b
head:
  instance_type: m6i.2xlarge
network:
  ssh_cidrs: auto
"""


def _launch_head(aws: AwsAccount) -> str:
    """An EC2 instance tagged the way Ray's node provider tags a head; returns its public IP."""
    from ray.autoscaler.tags import NODE_KIND_HEAD, TAG_RAY_CLUSTER_NAME, TAG_RAY_NODE_KIND

    refs = load_state("t-jobs").refs  # type: ignore[union-attr]
    tags = [{"Key": TAG_RAY_CLUSTER_NAME, "Value": "t-jobs"}, {"Key": TAG_RAY_NODE_KIND, "Value": NODE_KIND_HEAD}]
    inst = aws.client("ec2").run_instances(
        ImageId=refs["images"][""],
        InstanceType="m6i.2xlarge",
        MinCount=1,
        MaxCount=1,
        SubnetId=refs["subnet_id"],
        SecurityGroupIds=[refs["security_group_id"]],
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]
    return inst["PublicIpAddress"]


@pytest.mark.cluster
def test_submit_and_list_jobs_through_the_tunnel(aws: AwsAccount, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stand_in = aws.spec(STAND_IN, "stand-in.yaml")
    spec = aws.spec(CLUSTER, "aws.yaml")
    api.up(stand_in, timeout_s=180)
    try:
        local = load_state("t-jobs-head")
        assert local is not None and local.local is not None
        # The EC2 head would run with the cluster's own token; the stand-in runs with its token,
        # so the AWS cluster gets that one (`up` keeps an existing token).
        naming.state_dir("t-jobs").mkdir(parents=True, exist_ok=True)
        shutil.copy2(naming.state_dir("t-jobs-head") / "auth_token", naming.state_dir("t-jobs") / "auth_token")
        assert run_cli("up", str(spec), "--yes", "--provision-only").code == 0
        head_ip = _launch_head(aws)

        record = tmp_path / "ssh-calls.jsonl"
        monkeypatch.setenv("RLCLOUD_SSH", f"{sys.executable} {REPO / 'tests/support/fake_ssh.py'}")
        monkeypatch.setenv("FAKE_SSH_HOST_MAP", f"{head_ip}=127.0.0.1")
        monkeypatch.setenv("FAKE_SSH_PORT_MAP", f"8265={local.local.dashboard_port}")
        monkeypatch.setenv("FAKE_SSH_RECORD", str(record))
        work = tmp_path / "work"
        work.mkdir()
        (work / "hello.py").write_text("import os\nprint('hello from', os.environ['RLCLOUD_CLUSTER'])\n")

        submitted = run_cli("submit", str(spec), "--working-dir", str(work), "--", "python", "hello.py")
        assert submitted.code == 0, submitted.text
        assert "hello from t-jobs" in submitted.out
        listed = run_cli("jobs", str(spec))
        assert listed.code == 0 and "SUCCEEDED" in listed.text

        calls = [json.loads(line) for line in record.read_text().splitlines()]
        assert len(calls) >= 2  # one tunnel per command
        state_dir = naming.state_dir("t-jobs")
        for argv in calls:
            assert argv[-1] == f"ubuntu@{head_ip}"
            assert argv[argv.index("-i") + 1] == str(state_dir / "ssh_key")
            forward = argv[argv.index("-L") + 1].split(":")
            assert forward[0] == "127.0.0.1" and forward[2:] == ["127.0.0.1", "8265"]  # the head's dashboard, on its loopback
            assert "BatchMode=yes" in argv and f"UserKnownHostsFile={state_dir / 'known_hosts'}" in argv
        monkeypatch.setenv("FAKE_SSH_FAIL", "1")
        refused = run_cli("jobs", str(spec))
        assert refused.code == 1 and "SSH tunnel" in refused.text and "ssh_cidrs" in refused.text
    finally:
        api.down(stand_in)
    assert run_cli("down", str(spec), "--yes").code == 0
