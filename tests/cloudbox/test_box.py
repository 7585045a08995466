"""The cloud box itself: its commands (bad input gets one line and exit 2), VMs that follow
the instances' states, the metadata service, a network that reaches nothing outside the box,
and cleanup: `stop` leaves nothing, and a start after a killed box removes what it left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cloudbox import box, network
from tests.cloudbox.conftest import REPO, Box

pytestmark = pytest.mark.cloudbox


def _cloudbox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tests.cloudbox", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def _one_line_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, done
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def test_bad_input_gets_one_line_and_exit_2(tmp_path: Path) -> None:
    _one_line_error(_cloudbox("start", "gcpp", "--env-file", str(tmp_path / "e")), "unknown cloud 'gcpp'", "aws")
    _one_line_error(_cloudbox("start", "aws", "--env-file", str(tmp_path / "missing" / "e")), "cannot write env file", "does not exist")
    _one_line_error(_cloudbox("start", "aws", "--env-file", str(tmp_path)), "is a directory")
    _one_line_error(_cloudbox("start", "aws"), "--env-file")
    _one_line_error(_cloudbox("launch", "aws"), "invalid choice")
    not_a_box = tmp_path / "other.env"
    not_a_box.write_text("FOO=1\n")
    _one_line_error(_cloudbox("vms", "--env-file", str(not_a_box)), "not the env file of a running cloud box")
    assert not (tmp_path / "e").exists()  # refused input made nothing


def _in_vm(vm_id: str, code: str) -> Any:
    """Run Python in the VM's network namespace (its address, its routes) and return its JSON."""
    namespace, _ = network.vm_names(vm_id)
    done = subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


CONNECT = """
import json, socket, sys
out = {}
for host, port in %s:
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((host, port)); out[f"{host}:{port}"] = "connected"
    except OSError as exc:
        out[f"{host}:{port}"] = type(exc).__name__
print(json.dumps(out))
"""

METADATA = """
import json, urllib.request, urllib.error
base = "http://169.254.169.254/latest"
def get(path, token=None):
    request = urllib.request.Request(base + path, headers={"X-aws-ec2-metadata-token": token} if token else {})
    try:
        return urllib.request.urlopen(request, timeout=5).read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code
token = urllib.request.urlopen(urllib.request.Request(base + "/api/token", method="PUT",
    headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}), timeout=5).read().decode()
role = get("/meta-data/iam/security-credentials/", token)
print(json.dumps({
    "without_token": get("/meta-data/instance-id"),
    "bad_token": get("/meta-data/instance-id", "forged"),
    "instance_id": get("/meta-data/instance-id", token),
    "zone": get("/meta-data/placement/availability-zone", token),
    "role": role,
    "credentials": json.loads(get(f"/meta-data/iam/security-credentials/{role}", token)),
    "spot_notice": get("/meta-data/spot/instance-action", token),
}))
"""


def _launch(b: Box, key_material: str) -> dict[str, Any]:
    ec2, iam = b.client("ec2"), b.client("iam")
    ec2.import_key_pair(KeyName="box-test", PublicKeyMaterial=key_material.encode())
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="box-test", AssumeRolePolicyDocument=json.dumps(trust))
    iam.create_instance_profile(InstanceProfileName="box-test")
    iam.add_role_to_instance_profile(InstanceProfileName="box-test", RoleName="box-test")
    subnet = next(s for s in ec2.describe_subnets()["Subnets"] if s["AvailabilityZone"] == "us-west-2b")
    return dict(
        ec2.run_instances(
            ImageId="ami-785db401",
            InstanceType="m6i.large",
            MinCount=1,
            MaxCount=1,
            KeyName="box-test",
            SubnetId=subnet["SubnetId"],
            IamInstanceProfile={"Name": "box-test"},
            MetadataOptions={"HttpTokens": "required"},
        )["Instances"][0]
    )


def _ssh(key: Path, ip: str, command: str) -> subprocess.CompletedProcess[str]:
    options = ["-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]
    return subprocess.run(["ssh", *options, f"ubuntu@{ip}", command], capture_output=True, text=True, timeout=60)


def _nothing_left(state: Path) -> list[str]:
    left = [f"namespace {n}" for n in network.namespaces() if n.startswith(network.PREFIX)]
    if network.ip("link", "show", network.HOST_IF, check=False).returncode == 0:
        left.append(f"interface {network.HOST_IF}")
    if network.run("nft", "list", "table", "inet", network.NFT_TABLE, check=False).returncode == 0:
        left.append("nft table")
    if state.exists():
        left.append(f"state {state}")
    return left


def test_vms_follow_instances_and_the_box_stays_hermetic(tmp_path: Path) -> None:
    reason = box.unusable_reason()
    if reason:
        pytest.skip(f"the cloud box cannot run here: {reason}")
    if box.running_box():
        pytest.skip("a cloud box is already running on this machine")
    env_file = tmp_path / "box.env"
    started = _cloudbox("start", "aws", "--env-file", str(env_file))
    assert started.returncode == 0, started.stderr
    values = box.read_env_file(env_file)
    state = Path(values["RLCLOUD_CLOUDBOX_STATE"])
    b = Box(env_file=env_file, state=state, home=tmp_path / "home")
    try:
        _one_line_error(_cloudbox("start", "aws", "--env-file", str(tmp_path / "second.env")), "already running")
        assert values["AWS_ENDPOINT_URL"].startswith("https://") and values["RLCLOUD_PUBLIC_IP"] == network.Layout.for_cidr("172.31.0.0/16").host_ip

        key = tmp_path / "key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        instance = _launch(b, (tmp_path / "key.pub").read_text())
        iid, ip = instance["InstanceId"], instance["PrivateIpAddress"]
        vm = b.wait_for(
            "the instance's VM", lambda: next((v for v in b.running_vms() if v["id"] == iid and v["main_pid"]), None), timeout_s=5, poll_s=0.1
        )
        assert vm["ip"] == ip and vm["main_pid"]
        listing = _cloudbox("vms", "--env-file", str(env_file))
        assert listing.returncode == 0 and iid in listing.stdout and ip in listing.stdout and "running" in listing.stdout

        # A real sshd with the key pair's key; its own hostname, home and process table.
        login = b.wait_for("sshd", lambda: (r := _ssh(key, ip, "hostname; echo $HOME; ps -e | wc -l; which ray")).returncode == 0 and r, timeout_s=10)
        hostname, home, processes, ray = login.stdout.split()
        assert hostname == f"ip-{ip.replace('.', '-')}" and home == "/home/ubuntu" and int(processes) < 15
        assert ray == str(Path(sys.executable).parent / "ray")  # the image is this virtualenv

        metadata = _in_vm(iid, METADATA)
        assert metadata["without_token"] == 401 and metadata["bad_token"] == 401  # HttpTokens: required
        assert metadata["instance_id"] == iid and metadata["zone"] == "us-west-2b" and metadata["role"] == "box-test"
        assert metadata["credentials"]["Code"] == "Success" and metadata["credentials"]["AccessKeyId"].startswith("ASIA")
        assert metadata["spot_notice"] == 404

        # Nothing outside the box answers a VM: not the host's bridge address (a source
        # only), not the host's real address, not the internet. The API does.
        addresses = network.run("ip", "-4", "-o", "addr", "show", "scope", "global").stdout.splitlines()
        real_ip = next(line.split()[3].split("/")[0] for line in addresses if network.HOST_IF not in line)
        layout = network.Layout.for_cidr("172.31.0.0/16")
        reach = _in_vm(iid, CONNECT % repr([(layout.host_ip, 22), (layout.host_ip, 2024), (real_ip, 2024), ("8.8.8.8", 53), (layout.core_ip, 443)]))
        assert reach.pop(f"{layout.core_ip}:443") == "connected"
        assert "connected" not in reach.values(), reach
        # The host cannot reach the metadata address (it would leave through the default route).
        host_side = subprocess.run([sys.executable, "-c", CONNECT % repr([("169.254.169.254", 80)])], capture_output=True, text=True)
        assert "connected" not in host_side.stdout

        # Stop keeps the disk, start boots it again, terminate removes it.
        ec2 = b.client("ec2")
        _ssh(key, ip, "echo kept > ~/marker")
        ec2.stop_instances(InstanceIds=[iid])
        b.wait_for("the VM to stop", lambda: [v for v in b.vms() if v["id"] == iid and v["state"] == "stopped"], timeout_s=15, poll_s=0.2)
        assert network.namespace_pids(network.vm_names(iid)[0]) == []
        ec2.start_instances(InstanceIds=[iid])
        b.wait_for("the VM to boot again", lambda: [v for v in b.running_vms() if v["id"] == iid], timeout_s=10, poll_s=0.2)
        again = b.wait_for("sshd after restart", lambda: (r := _ssh(key, ip, "cat ~/marker")).returncode == 0 and r, timeout_s=10)
        assert again.stdout.strip() == "kept"

        # A killed box leaves its network behind; the next start removes it first.
        running = box.running_box()
        assert running is not None
        os.kill(running["server_pid"], signal.SIGKILL)
        time.sleep(0.5)
        assert any(n.startswith(network.VM_NS_PREFIX) for n in network.namespaces())
        restarted = _cloudbox("start", "aws", "--env-file", str(env_file))
        assert restarted.returncode == 0, restarted.stderr
        assert "removed what a killed box left" in restarted.stdout and network.vm_names(iid)[0] in restarted.stdout
        assert b.running_vms() == []  # a new, empty account
    finally:
        stopped = _cloudbox("stop", "--env-file", str(env_file))
    assert stopped.returncode == 0, stopped.stderr
    assert _nothing_left(state) == [] and not env_file.exists()
    assert not box.REGISTRY.exists()
    _one_line_error(_cloudbox("stop", "--env-file", str(env_file)), "no cloud box to stop")
