"""The cloud box for tests: started once per test module through its own CLI, as a user would,
and stopped at the end. Tests drive `rlcloud` as a subprocess with the env file's settings,
read the box's trail (who made which call) and inject faults through its control socket.

On a machine where the box cannot run (not root, no namespaces, no sshd), its tests skip
and say why; `make test` installs what it needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cloudbox import box, control
from tests.cloudbox.aws.trail import read_trail

REPO = Path(__file__).resolve().parents[2]
RLCLOUD = [sys.executable, "-m", "provisioner.cli.app"]
CLOUD_ENV_PREFIXES = (
    "AWS_",
    "GOOGLE_",
    "AZURE_",
    "RLCLOUD_GCE_",
    "RLCLOUD_IAM_",
    "RLCLOUD_CRM_",
    "RLCLOUD_GCS_",
    "RLCLOUD_AZURE_",
    "API_ENDPOINT_OVERRIDE",
    "STORAGE_EMULATOR_HOST",
)


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class Box:
    env_file: Path
    state: Path
    home: Path  # RLCLOUD_HOME of the rlcloud commands the tests run

    def env(self) -> dict[str, str]:
        """This process's environment with the env file's lines on top, as `set -a; . FILE`
        (minus any cloud settings of this machine's own)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(CLOUD_ENV_PREFIXES)}
        env.update(box.read_env_file(self.env_file))
        env["RLCLOUD_HOME"] = str(self.home)
        return env

    def rlcloud(self, *args: str, timeout_s: float = 900.0) -> Run:
        done = subprocess.run([*RLCLOUD, *args], cwd=REPO, env=self.env(), capture_output=True, text=True, timeout=timeout_s)
        return Run(done.returncode, done.stdout, done.stderr)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([*RLCLOUD, *args], cwd=REPO, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def client(self, service: str) -> Any:
        """The box admin's client (for the tests' own reads)."""
        import boto3

        values = box.read_env_file(self.env_file)
        return boto3.client(
            service,
            region_name=values["AWS_DEFAULT_REGION"],
            endpoint_url=values["AWS_ENDPOINT_URL"],
            verify=values["AWS_CA_BUNDLE"],
            aws_access_key_id=values["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=values["AWS_SECRET_ACCESS_KEY"],
        )

    def placement_groups(self) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = self.client("ec2").describe_placement_groups()["PlacementGroups"]
        return groups

    def vms(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = control.call(self.state / control.SOCKET_NAME, "vms")
        return found

    def running_vms(self) -> list[dict[str, Any]]:
        return [vm for vm in self.vms() if vm["state"] == "running"]

    def faults(self, **faults: Any) -> None:
        control.call(self.state / control.SOCKET_NAME, "faults", faults)

    def trail(self, since: float = 0.0) -> list[dict[str, Any]]:
        """The AWS box's trail: every API call, who made it, allowed or why denied."""
        return [r for r in read_trail(self.state) if r["time"] >= since]

    def calls(self, since: float = 0.0) -> list[dict[str, Any]]:
        """The GCP box's record of API calls: member, source address, method, path, status."""
        found: list[dict[str, Any]] = control.call(self.state / control.SOCKET_NAME, "calls", {"since": since})
        return found

    def world(self) -> dict[str, Any]:
        """What the GCP box's project holds, by kind."""
        found: dict[str, Any] = control.call(self.state / control.SOCKET_NAME, "world")
        return found

    def wait_for(self, what: str, predicate: Any, timeout_s: float, poll_s: float = 1.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
            time.sleep(poll_s)


def _cloudbox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tests.cloudbox", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def start_box(cloud: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    """A box per test module (starting one takes about 3 s), so modules never see each
    other's VMs or calls, and one module can start and stop boxes of its own."""
    reason = box.unusable_reason()
    if reason:
        pytest.skip(f"the cloud box cannot run here: {reason}")
    if box.running_box():
        pytest.skip("a cloud box is already running on this machine (stop it to run these tests)")
    folder = tmp_path_factory.mktemp(f"cloudbox-{cloud}")
    env_file = folder / "box.env"
    started = _cloudbox("start", cloud, "--env-file", str(env_file))
    assert started.returncode == 0, started.stderr
    found = Box(env_file=env_file, state=Path(box.read_env_file(env_file)["RLCLOUD_CLOUDBOX_STATE"]), home=folder / "rlcloud-home")
    try:
        yield found
    finally:
        stopped = _cloudbox("stop", "--env-file", str(env_file))
        assert stopped.returncode == 0, stopped.stderr


@pytest.fixture(scope="module")
def aws_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    yield from start_box("aws", tmp_path_factory)


@pytest.fixture(scope="module")
def gcp_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    yield from start_box("gcp", tmp_path_factory)


def spec_file(folder: Path, text: str, name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def json_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out
