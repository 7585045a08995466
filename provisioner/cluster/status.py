"""Cluster status as data: nodes by group, resources used/total, pending demand, jobs.

Built from the autoscaler's report (`/api/cluster_status`) and the Jobs API, so `rlcloud
status --json` carries what `ray status` shows plus jobs, in a shape scripts can rely on.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from provisioner.spec.resolve import ResolvedNode


class GroupStatus(BaseModel):
    name: str = Field(description="Node group (Ray node type) name.")
    active: int = Field(description="Nodes up and registered with Ray.")
    pending: int = Field(description="Nodes launching or starting Ray.")
    failed: int = Field(description="Launches that failed recently.")
    min_nodes: int
    max_nodes: int


class ResourceStatus(BaseModel):
    name: str
    used: float
    total: float


class JobStatus(BaseModel):
    id: str = Field(description="Submission id (what `rlcloud logs` and `stop` take).")
    status: str
    entrypoint: str
    start_time: float | None = None
    end_time: float | None = None


class ClusterStatus(BaseModel):
    name: str
    cloud: str
    state: str = Field(description="up, down or unreachable.")
    dashboard: str | None = None
    groups: list[GroupStatus] = Field(default_factory=list)
    resources: list[ResourceStatus] = Field(default_factory=list)
    pending_demand: list[dict[str, float]] = Field(
        default_factory=list, description="Resource shapes waiting for capacity (tasks, actors, placement group bundles)."
    )
    autoscaler_error: str | None = None
    jobs: list[JobStatus] = Field(default_factory=list)

    def group(self, name: str) -> GroupStatus:
        return next(g for g in self.groups if g.name == name)

    def min_nodes_met(self) -> bool:
        return all(g.active >= g.min_nodes for g in self.groups)

    def text(self) -> str:
        lines = [f"cluster {self.name} ({self.cloud}): {self.state}"]
        if self.dashboard:
            lines.append(f"dashboard: {self.dashboard}")
        if self.groups:
            lines.append("nodes:")
            for g in self.groups:
                extra = "".join(f", {n} {label}" for n, label in ((g.pending, "pending"), (g.failed, "failed")) if n)
                bounds = "head" if g.name == "ray.head.default" else f"min {g.min_nodes}, max {g.max_nodes}"
                lines.append(f"  {g.name:<18} {g.active} active{extra}  ({bounds})")
        if self.resources:
            lines.append("resources (used/total):")
            for r in self.resources:
                lines.append(f"  {r.name:<20} {_fmt(r.name, r.used)}/{_fmt(r.name, r.total)}")
        if self.pending_demand:
            lines.append("pending demand:")
            for shape in self.pending_demand:
                lines.append("  " + ", ".join(f"{k}: {v:g}" for k, v in shape.items()))
        if self.autoscaler_error:
            lines.append("autoscaler error: " + self.autoscaler_error.strip().splitlines()[-1])
        if self.jobs:
            lines.append("jobs:")
            for job in self.jobs:
                lines.append(f"  {job.id:<28} {job.status:<10} {job.entrypoint[:60]}")
        return "\n".join(lines)


def _fmt(name: str, value: float) -> str:
    if name in {"memory", "objectStoreMemory", "object_store_memory"}:
        return f"{value / 2**30:.1f}GiB"
    return f"{value:g}"


_SHOWN_RESOURCES = ("CPU", "GPU", "memory", "objectStoreMemory")


def _demand_shapes(report: dict[str, Any]) -> list[dict[str, float]]:
    shapes: list[dict[str, float]] = []
    for entry in report.get("resourceDemand") or []:
        shape, count = (entry[0], entry[1]) if isinstance(entry, list) else (entry, 1)
        shapes.extend([{k: float(v) for k, v in shape.items()}] * int(count))
    for entry in report.get("pgDemand") or []:
        # A pending placement group: {"strategy": ..., "bundles": [[shape, n], ...]} x count
        # (the shape Ray's own `format_pg` reads).
        group, count = (entry[0], entry[1]) if isinstance(entry, list) else (entry, 1)
        for bundle in group.get("bundles", []):
            shape, per_group = (bundle[0], bundle[1]) if isinstance(bundle, list) else (bundle, 1)
            shapes.extend([{k: float(v) for k, v in shape.items()}] * int(count) * int(per_group))
    return shapes


def build_status(name: str, cloud: str, dashboard: str, nodes: list[ResolvedNode], raw: dict[str, Any], jobs: list[dict[str, Any]]) -> ClusterStatus:
    """Combine the autoscaler report with the spec's node groups (so empty groups show too)."""
    cluster = raw.get("clusterStatus") or {}
    report = cluster.get("autoscalerReport") or {}
    load = cluster.get("loadMetricsReport") or {}
    active = report.get("activeNodes") or {}
    pending: dict[str, int] = {}
    for node_type, count in (report.get("pendingLaunches") or {}).items():
        pending[node_type] = pending.get(node_type, 0) + int(count)
    for entry in report.get("pendingNodes") or []:
        node_type = entry.get("nodeType") if isinstance(entry, dict) else (entry[1] if len(entry) > 1 else None)
        if node_type:
            pending[node_type] = pending.get(node_type, 0) + 1
    failed: dict[str, int] = {}
    for entry in report.get("failedNodes") or []:
        node_type = entry.get("nodeType") if isinstance(entry, dict) else (entry[1] if len(entry) > 1 else None)
        if node_type:
            failed[node_type] = failed.get(node_type, 0) + 1
    groups = [
        GroupStatus(
            name=n.ray_name,
            active=int(active.get(n.ray_name, 0)),
            pending=pending.get(n.ray_name, 0),
            failed=failed.get(n.ray_name, 0),
            min_nodes=n.min_nodes,
            max_nodes=n.max_nodes,
        )
        for n in nodes
    ]
    usage = load.get("usage") or {}
    resources = [ResourceStatus(name=k, used=float(usage[k][0]), total=float(usage[k][1])) for k in _SHOWN_RESOURCES if k in usage]
    resources += [
        ResourceStatus(name=k, used=float(v[0]), total=float(v[1]))
        for k, v in sorted(usage.items())
        if k not in _SHOWN_RESOURCES and not k.startswith("node:") and not k.startswith("accelerator_type")
    ]
    job_rows = [
        JobStatus(
            id=j.get("submission_id") or j.get("job_id") or "?",
            status=str(j.get("status")),
            entrypoint=str(j.get("entrypoint", "")),
            start_time=(j.get("start_time") or 0) / 1000 or None,
            end_time=(j.get("end_time") or 0) / 1000 or None,
        )
        for j in sorted(jobs, key=lambda j: j.get("start_time") or 0)
        if j.get("type") != "DRIVER" or j.get("submission_id")
    ]
    return ClusterStatus(
        name=name,
        cloud=cloud,
        state="up" if cluster else "starting",
        dashboard=dashboard,
        groups=groups,
        resources=resources,
        pending_demand=_demand_shapes(load),
        autoscaler_error=raw.get("autoscalingError"),
        jobs=job_rows,
    )
