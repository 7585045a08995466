"""Wait until a cluster is usable: dashboard answering and every group at its min_nodes,
printing progress as it goes. Shared by the local cluster and the clouds."""

from __future__ import annotations

import time

from provisioner.cluster.dashboard import DashboardEndpoint
from provisioner.cluster.status import ClusterStatus, build_status
from provisioner.errors import ClusterError, RlcloudError
from provisioner.progress import Progress
from provisioner.spec.resolve import ResolvedNode


def wait_until_ready(
    endpoint: DashboardEndpoint,
    name: str,
    cloud: str,
    nodes: list[ResolvedNode],
    progress: Progress,
    timeout_s: float,
    poll_s: float = 0.25,
) -> ClusterStatus:
    deadline = time.monotonic() + timeout_s
    while not endpoint.is_up():
        if time.monotonic() > deadline:
            raise ClusterError(f"the dashboard at {endpoint.url} did not come up within {timeout_s:.0f}s")
        progress.waiting("waiting for the head's dashboard")
        time.sleep(poll_s)
    progress.step(f"head is up; dashboard at {endpoint.url}")
    workers = [n for n in nodes if not n.is_head]
    status: ClusterStatus | None = None
    while True:
        try:
            status = build_status(name, cloud, endpoint.url, nodes, endpoint.cluster_status(), [])
        except RlcloudError:
            status = None
        if status is not None and status.state == "up" and status.min_nodes_met():
            return status
        if time.monotonic() > deadline:
            detail = status.text() if status else "no autoscaler report yet"
            raise ClusterError(
                f"cluster {name} did not reach its min_nodes within {timeout_s:.0f}s\n{detail}",
                hint="inspect with `rlcloud status`, or remove it with `rlcloud down`",
            )
        if status is not None and workers:
            parts = []
            for n in workers:
                g = status.group(n.ray_name)
                if g.min_nodes:
                    parts.append(f"{g.name} {g.active}/{g.min_nodes}" + (f" ({g.pending} starting)" if g.pending else ""))
            if parts:
                progress.waiting("waiting for min nodes: " + ", ".join(parts))
        else:
            progress.waiting("waiting for the autoscaler's first report")
        time.sleep(poll_s)
