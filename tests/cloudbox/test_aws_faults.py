"""Faults after `ray up` starts, in the cloud box: each makes `rlcloud up` exit 1 with a
message naming the step and the log to read, and a `down` afterwards leaves nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.aws.leftovers import leftovers
from tests.cloudbox.conftest import REPO, Box, spec_file

pytestmark = pytest.mark.cloudbox


def _spec(name: str, head_setup: list[str] | None = None) -> str:
    """The box's example spec under another name, without checkpoint storage."""
    text = (REPO / "examples" / "cloudbox" / "aws.yaml").read_text()
    text = text.replace("name: rl-box", f"name: {name}")
    text = text[: text.index("storage:")] + text[text.index("ray:") :]
    if head_setup:
        text += "  head_setup_commands:\n" + "".join(f"    - {command!r}\n" for command in head_setup)
    return text


@pytest.fixture
def faults(aws_box: Box) -> Iterator[Box]:
    aws_box.faults(no_sshd=[])
    yield aws_box
    aws_box.faults(no_sshd=[])


def _down_leaves_nothing(box: Box, spec: Path, cluster: str) -> None:
    down = box.rlcloud("down", str(spec), "--yes")
    assert down.code == 0, down.text
    box.wait_for("the box to stop the VMs of terminated instances", lambda: box.running_vms() == [], timeout_s=10, poll_s=0.25)
    assert leftovers(box, cluster) == []  # type: ignore[arg-type]


def test_head_sshd_refusing(faults: Box, tmp_path: Path) -> None:
    faults.faults(no_sshd=["head"])
    spec = spec_file(tmp_path, _spec("rl-box-nossh"))
    up = faults.rlcloud("up", str(spec), "--yes", "--timeout", "45")
    assert up.code == 1, up.text
    assert "Traceback" not in up.text
    assert re.search(r"`ray up` (failed|did not finish).*at step: Waiting for SSH to become available", up.text), up.text
    assert re.search(r"the whole output is in \S+/clusters/rl-box-nossh/ray-up\.log", up.text), up.text
    assert "SSH still not available" in (faults.home / "clusters" / "rl-box-nossh" / "ray-up.log").read_text()
    _down_leaves_nothing(faults, spec, "rl-box-nossh")


def test_head_setup_command_failing(faults: Box, tmp_path: Path) -> None:
    spec = spec_file(tmp_path, _spec("rl-box-setup", head_setup=["echo installing packages", "exit 7"]))
    up = faults.rlcloud("up", str(spec), "--yes", "--timeout", "180")
    assert up.code == 1, up.text
    assert "Traceback" not in up.text
    assert re.search(r"`ray up` failed at step: Running setup commands \(last command: exit 7\)", up.text), up.text
    log = faults.home / "clusters" / "rl-box-setup" / "ray-up.log"
    assert str(log) in up.text and "exit 7" in log.read_text()
    _down_leaves_nothing(faults, spec, "rl-box-setup")


def test_a_worker_that_never_joins(faults: Box, tmp_path: Path) -> None:
    faults.faults(no_sshd=["worker"])
    spec = spec_file(tmp_path, _spec("rl-box-nojoin"))
    up = faults.rlcloud("up", str(spec), "--yes", "--timeout", "80")
    assert up.code == 1, up.text
    assert "Traceback" not in up.text
    assert "did not reach its min_nodes within" in up.text and re.search(r"learner\s+0 active", up.text), up.text
    assert "step: waiting for each group's min_nodes to join" in up.text
    log = faults.home / "clusters" / "rl-box-nojoin" / "head-autoscaler.log"
    assert str(log) in up.text
    assert "SSH still not available" in log.read_text()  # the reason is one local file away
    _down_leaves_nothing(faults, spec, "rl-box-nojoin")
