"""Start the head of a local cluster: `ray start --head --autoscaling-config=...` with the
fake_multinode provider (RAY_FAKE_CLUSTER=1), token auth on, and ports of its own."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from provisioner.spec.resolve import ResolvedNode
from provisioner.state import LocalRuntime

MB = 1024 * 1024


def cluster_temp_dir(state_dir: Path) -> str:
    """A short, per-cluster Ray temp dir. Short because Ray puts Unix sockets under it
    (108-byte path limit); derived from the state dir so `down` can find it even if the
    state file is lost."""
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:10]
    return f"/tmp/rlcloud-{digest}"


# Ray's workers take ports from 10002-19999 by default; the kernel hands out ephemeral ports
# (every `bind(0)`, every outgoing connection) from ip_local_port_range, 32768+ here. Ports
# chosen between the two cannot be taken by another process's ephemeral bind between our
# choosing them and `ray start` binding them: a GCS port lost that way hangs `ray start`.
PORT_FLOOR = 20000


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free now, outside both Ray's worker range and the kernel's
    ephemeral range where the machine leaves a gap between them (else any free ports)."""
    import random
    import socket

    ceiling = _ephemeral_floor()
    if ceiling - PORT_FLOOR >= 100 * count:
        candidates = random.sample(range(PORT_FLOOR, ceiling), 50 * count)
        ports = [port for port in candidates if _bindable(port)][:count]
        if len(ports) == count:
            return ports
    socks, ports = [], []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in socks:
            sock.close()
    return ports


def allocate_runtime(state_dir: Path) -> LocalRuntime:
    gcs, dashboard, client, agent = free_ports(4)
    return LocalRuntime(gcs_port=gcs, dashboard_port=dashboard, client_port=client, agent_port=agent, temp_dir=cluster_temp_dir(state_dir))


@dataclass
class HeadLaunch:
    argv: list[str]
    env: dict[str, str]


def head_launch(head: ResolvedNode, runtime: LocalRuntime, config_path: Path, token_path: Path) -> HeadLaunch:
    bindir = Path(sys.executable).parent
    custom = dict(head.custom_resources)
    argv = [
        str(bindir / "ray"),
        "start",
        "--head",
        f"--port={runtime.gcs_port}",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={runtime.dashboard_port}",
        f"--ray-client-server-port={runtime.client_port}",
        f"--dashboard-agent-listen-port={runtime.agent_port}",
        f"--num-cpus={head.cpus}",
        f"--num-gpus={head.gpus}",
        f"--object-store-memory={(head.object_store_mb or 512) * MB}",
        f"--autoscaling-config={config_path}",
        f"--temp-dir={runtime.temp_dir}",
        "--disable-usage-stats",
    ]
    if custom:
        argv.append(f"--resources={json.dumps(custom)}")
    env = dict(os.environ)
    env.update(
        {
            "RAY_FAKE_CLUSTER": "1",
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(token_path),
            # The autoscaler's default 5 s tick is tuned for clouds; locally 1 s keeps
            # scale-up snappy.
            "AUTOSCALER_UPDATE_INTERVAL_S": "1",
            "RAY_USAGE_STATS_ENABLED": "0",
            # Job entrypoints run on the head: make `python` this environment's python.
            "PATH": f"{bindir}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    env.pop("RAY_ADDRESS", None)
    if head.labels:
        env["RAY_OVERRIDE_LABELS"] = json.dumps(head.labels)
    return HeadLaunch(argv=argv, env=env)


def start_head(launch: HeadLaunch, log_path: Path, timeout_s: float = 120.0) -> int | None:
    """Run `ray start`; its output goes to `log_path` (it echoes addresses, never the token).
    Returns its exit code, or None when it did not finish within `timeout_s` (it is killed;
    the daemons it started are the caller's to stop)."""
    with open(log_path, "w") as log:
        try:
            done = subprocess.run(launch.argv, env=launch.env, stdout=log, stderr=subprocess.STDOUT, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            return None
    return done.returncode
