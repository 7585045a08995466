"""submit / jobs / logs / stop through the CLI against the shared local cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from provisioner import api
from provisioner.auth import bearer_headers
from provisioner.cluster.dashboard import DashboardEndpoint
from provisioner.cluster.tunnel import SshTunnel, TunnelSpec, pick_local_port
from provisioner.jobs.ops import list_jobs
from provisioner.state import load_state
from tests.local.conftest import LocalCluster
from tests.support.cli import run_cli

REPO = Path(__file__).resolve().parents[2]


def submit(cluster: LocalCluster, *entrypoint: str, extra: tuple[str, ...] = ()) -> tuple[int, str, str]:
    result = run_cli("submit", str(cluster.spec), "--working-dir", str(REPO), *extra, "--", *entrypoint)
    return result.code, result.out, result.err


def test_submit_scales_up_samplers_and_succeeds(local_cluster: LocalCluster) -> None:
    code, out, err = submit(local_cluster, "python", "examples/placement_probe.py", "--samplers", "2", "--timeout", "90")
    assert code == 0, out + err
    report = json.loads([line for line in out.splitlines() if line.startswith('{"waited_s"')][-1])
    nodes = [b["node_id"] for b in report["bundles"]]
    assert len(set(nodes)) == 3  # learner + 2 samplers on three different (simulated) nodes
    assert api.status(local_cluster.spec).group("sampler").active >= 2
    assert "succeeded" in err


def test_failed_job_exits_1_with_the_tail_of_its_logs(local_cluster: LocalCluster) -> None:
    code, _, err = submit(local_cluster, "python", "-c", "import sys; print('boom-marker-7'); sys.exit(3)")
    assert code == 1
    assert "FAILED" in err and "exit code 3" in err
    assert "last" in err and "boom-marker-7" in err.split("lines of its logs")[-1]


def test_env_and_checkpoint_uri_reach_the_job(local_cluster: LocalCluster) -> None:
    probe = "import os; print('CKPT=' + os.environ['RLCLOUD_CHECKPOINT_URI']); print('MINE=' + os.environ['MY_VAR'])"
    code, out, _ = submit(local_cluster, "python", "-c", probe, extra=("--env", "MY_VAR=hello world"))
    assert code == 0
    state = load_state(local_cluster.name)
    assert state is not None
    assert f"CKPT={state.checkpoint_uri}" in out and "MINE=hello world" in out


def test_working_dir_outside_the_repo_still_imports_runtime(local_cluster: LocalCluster, tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text(
        "import runtime, pathlib, os\nprint('RUNTIME_AT', pathlib.Path(list(runtime.__path__)[0]).name)\nprint('CWD', os.getcwd())\n"
    )
    result = run_cli("submit", str(local_cluster.spec), "--working-dir", str(tmp_path), "--", "python", "job.py")
    assert result.code == 0, result.text
    assert "RUNTIME_AT runtime" in result.out
    # The local cluster shares this machine's files: the job runs in the directory itself.
    assert f"CWD {tmp_path.resolve()}" in result.out


def test_no_follow_then_jobs_logs_and_stop(local_cluster: LocalCluster) -> None:
    sleeper = "import time; print('sleeper-started', flush=True); time.sleep(600)"
    result = run_cli(
        "submit",
        str(local_cluster.spec),
        "--working-dir",
        str(REPO),
        "--no-follow",
        "--name",
        f"sleeper-{os.getpid()}",
        "--",
        "python",
        "-c",
        sleeper,
    )
    assert result.code == 0
    job_id = result.out.strip()
    assert job_id == f"sleeper-{os.getpid()}"
    listing = run_cli("jobs", str(local_cluster.spec))
    assert job_id in listing.out
    deadline = time.monotonic() + 60
    while "sleeper-started" not in run_cli("logs", str(local_cluster.spec), job_id).out:
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.5)
    stopped = run_cli("stop", str(local_cluster.spec), job_id)
    assert stopped.code == 0 and "STOPPED" in stopped.err
    again = run_cli("submit", str(local_cluster.spec), "--no-follow", "--name", job_id, "--", "true")
    assert again.code == 2 and "already exists" in again.err
    missing = run_cli("logs", str(local_cluster.spec), "no-such-job")
    assert missing.code == 1 and "no job 'no-such-job'" in missing.err


def test_ctrl_c_stops_the_job_and_exits_130(local_cluster: LocalCluster) -> None:
    name = f"interrupted-{os.getpid()}"
    sleeper = "import time; print('interruptible-started', flush=True); time.sleep(600)"
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("rlcloud")),
            "submit",
            str(local_cluster.spec),
            "--working-dir",
            str(REPO),
            "--name",
            name,
            "--",
            "python",
            "-c",
            sleeper,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 90
    for line in proc.stdout:
        if "interruptible-started" in line:
            break
        assert time.monotonic() < deadline
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "asking Ray to stop" in err
    statuses = {j.submission_id: str(j.status) for j in api.jobs(local_cluster.spec)}
    assert statuses[name] == "STOPPED"


def test_address_points_at_a_cluster_rlcloud_did_not_create(local_cluster: LocalCluster) -> None:
    state = load_state(local_cluster.name)
    assert state is not None and state.local is not None
    address = f"http://127.0.0.1:{state.local.dashboard_port}"
    token_file = local_cluster.state_dir / "auth_token"
    listing = run_cli("jobs", "--address", address, "--token-file", str(token_file))
    assert listing.code == 0 and "JOB" in listing.out
    refused = run_cli("jobs", "--address", address)
    assert refused.code == 1 and "refused" in refused.err
    wrong = run_cli("jobs", "--address", "ray://127.0.0.1:10001")
    assert wrong.code == 2 and "dashboard address" in wrong.err


def test_jobs_api_through_an_ssh_tunnel(local_cluster: LocalCluster, tmp_path: Path) -> None:
    """The cloud path: dashboard reached through `ssh -L`, with ssh replaced at its boundary."""
    state = load_state(local_cluster.name)
    assert state is not None and state.local is not None
    record = tmp_path / "ssh-argv.jsonl"
    os.environ["FAKE_SSH_RECORD"] = str(record)
    try:
        spec = TunnelSpec(
            host="127.0.0.1",
            user="ubuntu",
            private_key=tmp_path / "key",
            known_hosts=tmp_path / "known_hosts",
            local_port=pick_local_port(),
            remote_port=state.local.dashboard_port,
            ssh_binary=f"{sys.executable} {REPO / 'tests/support/fake_ssh.py'}",
        )
        token = (local_cluster.state_dir / "auth_token").read_text()
        with SshTunnel(spec) as tunnel:
            jobs = list_jobs(DashboardEndpoint(tunnel.url, bearer_headers(token)))
            assert jobs and all(j.submission_id for j in jobs)
    finally:
        os.environ.pop("FAKE_SSH_RECORD", None)
    argv = json.loads(record.read_text().splitlines()[0])
    assert argv[argv.index("-L") + 1] == f"127.0.0.1:{spec.local_port}:127.0.0.1:{state.local.dashboard_port}"
    assert argv[-1] == "ubuntu@127.0.0.1" and "-N" in argv and "BatchMode=yes" in argv


def test_status_shows_pending_demand_the_cluster_cannot_meet(local_cluster: LocalCluster) -> None:
    # 5 sampler bundles but the group allows at most 4 nodes: one bundle shape stays pending.
    name = f"too-big-{os.getpid()}"
    result = run_cli(
        "submit",
        str(local_cluster.spec),
        "--working-dir",
        str(REPO),
        "--no-follow",
        "--name",
        name,
        "--",
        "python",
        "examples/placement_probe.py",
        "--samplers",
        "5",
        "--timeout",
        "120",
    )
    assert result.code == 0
    try:
        deadline = time.monotonic() + 90
        while True:
            status = api.status(local_cluster.spec)
            if status.pending_demand:
                break
            assert time.monotonic() < deadline, status.text()
            time.sleep(1)
        assert any(shape.get("GPU") == 1.0 for shape in status.pending_demand)
        assert "pending demand:" in run_cli("status", str(local_cluster.spec)).out
    finally:
        run_cli("stop", str(local_cluster.spec), name)


def test_task_output_reaches_the_driver_once(local_cluster: LocalCluster) -> None:
    """Simulated nodes share one session dir; only the head's log monitor may forward it."""
    assert len(api.status(local_cluster.spec).groups) == 3 and api.status(local_cluster.spec).group("learner").active == 1
    job = (
        "import ray; ray.init()\n"
        "@ray.remote(num_gpus=2)\n"
        "def on_learner():\n"
        "    print('printed-by-a-task-7f3', flush=True)\n"
        "ray.get(on_learner.remote())\n"
        "import time; time.sleep(2)  # let the log monitors forward what they saw\n"
    )
    code, out, err = submit(local_cluster, "python", "-c", job)
    assert code == 0, out + err
    forwarded = [line for line in out.splitlines() if "(on_learner" in line and "printed-by-a-task-7f3" in line]
    assert len(forwarded) == 1, out


def test_uploaded_working_dir_honours_gitignore_and_ships_runtime(local_cluster: LocalCluster, tmp_path: Path) -> None:
    """The upload path (clouds, --address): .gitignore'd files stay home, `runtime` is shipped."""
    state = load_state(local_cluster.name)
    assert state is not None and state.local is not None
    (tmp_path / "job.py").write_text("import os, runtime\nprint('FILES', sorted(os.listdir('.')))\nprint('CWD', os.getcwd())\n")
    (tmp_path / "big.bin").write_bytes(b"x" * 1024)
    (tmp_path / ".gitignore").write_text("big.bin\n")
    result = run_cli(
        "submit",
        "--address",
        f"http://127.0.0.1:{state.local.dashboard_port}",
        "--token-file",
        str(local_cluster.state_dir / "auth_token"),
        "--working-dir",
        str(tmp_path),
        "--",
        "python",
        "job.py",
    )
    assert result.code == 0, result.text
    files_line = next(line for line in result.out.splitlines() if line.startswith("FILES"))
    assert "job.py" in files_line and "big.bin" not in files_line
    assert f"CWD {tmp_path.resolve()}" not in result.out  # ran in Ray's unpacked copy
