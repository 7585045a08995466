"""up / status / down of real local clusters (Ray's autoscaler with simulated nodes)."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest
import yaml

from provisioner import api
from provisioner.auth import bearer_headers
from provisioner.cluster.dashboard import DashboardEndpoint, TokenRefused
from provisioner.errors import ClusterError
from provisioner.local.processes import _alive
from provisioner.state import load_state
from tests.local.conftest import LocalCluster
from tests.support.cli import run_cli


def test_up_waits_for_min_nodes_and_records_state(local_cluster: LocalCluster) -> None:
    status = api.status(local_cluster.spec)
    assert status.state == "up"
    assert status.group("learner").active == 1  # min_nodes: 1
    assert status.group("ray.head.default").active == 1
    gpu = next(r for r in status.resources if r.name == "GPU")
    assert gpu.total >= 2
    config = yaml.safe_load((local_cluster.state_dir / "ray-cluster.yaml").read_text())
    assert config["provider"]["module"] == "provisioner.local.node_provider.LocalNodeProvider"
    state = load_state(local_cluster.name)
    assert state is not None and state.status == "up" and state.local is not None
    assert config["provider"]["gcs_address"] == f"127.0.0.1:{state.local.gcs_port}"


def test_token_file_is_private_and_never_in_the_config(local_cluster: LocalCluster) -> None:
    token_file = local_cluster.state_dir / "auth_token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text()
    assert len(token) >= 32
    assert token not in (local_cluster.state_dir / "ray-cluster.yaml").read_text()
    assert token not in (local_cluster.state_dir / "state.json").read_text()
    assert token not in (local_cluster.state_dir / "ray-start.log").read_text()
    for proc in local_cluster.processes():
        try:
            assert token not in " ".join(proc.cmdline())
        except Exception:  # process ended while we looked
            pass


def test_requests_without_the_token_are_refused(local_cluster: LocalCluster) -> None:
    state = load_state(local_cluster.name)
    assert state is not None and state.local is not None
    url = f"http://127.0.0.1:{state.local.dashboard_port}"
    with pytest.raises(TokenRefused, match="401"):
        DashboardEndpoint(url).jobs()
    with pytest.raises(TokenRefused, match="403"):
        DashboardEndpoint(url, bearer_headers("not-the-token")).jobs()
    token = (local_cluster.state_dir / "auth_token").read_text()
    assert DashboardEndpoint(url, bearer_headers(token)).jobs() is not None
    # Ray's own client, without the token, is refused too.
    from ray.job_submission import JobSubmissionClient

    with pytest.raises(Exception, match="(?i)auth"):
        JobSubmissionClient(url).list_jobs()


def test_up_again_changes_nothing(local_cluster: LocalCluster) -> None:
    before = {p.pid for p in local_cluster.processes()}
    result = run_cli("up", str(local_cluster.spec))
    assert result.code == 0 and "already up; nothing changed" in result.err
    after = {p.pid for p in local_cluster.processes()}
    assert before <= after | set()  # no process was restarted


def test_status_text_and_json(local_cluster: LocalCluster) -> None:
    text = run_cli("status", str(local_cluster.spec))
    assert text.code == 0 and "learner" in text.out and "sampler" in text.out and "(min 0, max 3)" in text.out
    as_json = json.loads(run_cli("status", str(local_cluster.spec), "--json").out)
    assert {g["name"] for g in as_json["groups"]} == {"ray.head.default", "learner", "sampler"}
    assert as_json["state"] == "up"


def test_changed_worker_group_reaches_the_running_autoscaler(local_cluster: LocalCluster, tmp_path: Path) -> None:
    changed = tmp_path / "changed.yaml"
    changed.write_text(local_cluster.spec.read_text().replace("max_nodes: 3", "max_nodes: 4"))
    result = api.up(changed)
    assert result.changed and "autoscaling config updated" in result.message
    config = yaml.safe_load((local_cluster.state_dir / "ray-cluster.yaml").read_text())
    assert config["available_node_types"]["sampler"]["max_workers"] == 4
    head_changed = tmp_path / "head.yaml"
    head_changed.write_text(local_cluster.spec.read_text().replace("cpus: 2", "cpus: 1", 1))
    with pytest.raises(ClusterError, match="different head node"):
        api.up(head_changed)
    api.up(local_cluster.spec)  # back to the shared spec


def test_second_cluster_does_not_trample_the_first(local_cluster: LocalCluster, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("name: t-other\ncloud: local\nhead:\n  cpus: 1\n")
    first = load_state(local_cluster.name)
    result = api.up(other, timeout_s=120)
    try:
        second = load_state("t-other")
        assert first is not None and second is not None and first.local and second.local
        ports_a = {first.local.gcs_port, first.local.dashboard_port, first.local.client_port, first.local.agent_port}
        ports_b = {second.local.gcs_port, second.local.dashboard_port, second.local.client_port, second.local.agent_port}
        assert not ports_a & ports_b
        assert first.local.temp_dir != second.local.temp_dir
        assert result.dashboard and api.status(other).state == "up"
    finally:
        api.down(other)
    assert api.status(other).state == "down"
    assert api.status(local_cluster.spec).state == "up"  # untouched by the other's down


def test_down_leaves_no_process_and_keeps_checkpoints(tmp_path: Path) -> None:
    spec = tmp_path / "short.yaml"
    spec.write_text(
        "name: t-down\ncloud: local\nhead:\n  cpus: 1\nnode_groups:\n  learner:\n    accelerators: H100:1\n    min_nodes: 1\n    max_nodes: 1\n"
    )
    api.up(spec, timeout_s=120)
    state = load_state("t-down")
    assert state is not None and state.local is not None and state.checkpoint_uri
    checkpoint_dir = Path(state.checkpoint_uri.removeprefix("file://"))
    checkpoint_dir.mkdir(parents=True)
    (checkpoint_dir / "step-1").write_text("weights")
    from provisioner.local.processes import find_cluster_processes

    procs = find_cluster_processes(state.local.temp_dir, state.local.gcs_port)
    assert len(procs) >= 5  # gcs, raylets, dashboard, monitor, ...
    result = run_cli("down", str(spec))
    assert result.code == 0 and "checkpoints kept" in result.err
    assert [p.pid for p in procs if _alive(p)] == []
    assert find_cluster_processes(state.local.temp_dir, state.local.gcs_port) == []
    assert (checkpoint_dir / "step-1").read_text() == "weights"
    again = run_cli("down", str(spec))
    assert again.code == 0 and "not up; nothing to do" in again.err
    assert api.status(spec).state == "down"
    # And it comes back.
    assert api.up(spec, timeout_s=120).changed
    api.down(spec)


def test_idle_simulated_nodes_are_removed(tmp_path: Path) -> None:
    """The autoscaler adds sampler nodes for a job and removes them once idle."""
    spec = tmp_path / "elastic.yaml"
    spec.write_text(
        "name: t-elastic\ncloud: local\nhead:\n  cpus: 1\nnode_groups:\n  sampler:\n"
        "    accelerators: L4:1\n    max_nodes: 2\nray:\n  idle_timeout_minutes: 0.1\n"
    )
    api.up(spec, timeout_s=120)
    try:
        job = (
            "import ray; from ray.util.placement_group import placement_group; ray.init(); "
            "pg = placement_group([{'CPU': 1, 'GPU': 1}] * 2, strategy='SPREAD'); "
            "assert pg.wait(timeout_seconds=90); print('both samplers placed')"
        )
        result = run_cli("submit", str(spec), "--working-dir", str(tmp_path), "--", "python", "-c", job)
        assert result.code == 0 and "both samplers placed" in result.out
        assert api.status(spec).group("sampler").active == 2
        deadline = time.monotonic() + 90
        while api.status(spec).group("sampler").active:
            assert time.monotonic() < deadline, "idle sampler nodes were never removed"
            time.sleep(1)
    finally:
        api.down(spec)
