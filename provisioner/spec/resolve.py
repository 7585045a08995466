"""Resolve a validated spec into concrete node types: instance type, Ray resources, and the
fast-networking and placement decisions for each. Compilers and plans read this, never the
raw spec, so every cloud applies the same defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioner.catalog import InstanceType, get_catalog
from provisioner.drivers import FastNetworkingChoice, driver_for
from provisioner.spec.models import CloudClusterSpec, ClusterSpecBase

# Ray's fake_multinode provider hard-codes this head type name; we use it on every cloud
# so the local cluster and cloud clusters have the same node type names.
HEAD_RAY_NAME = "ray.head.default"


class ResolutionError(Exception):
    """A node type that cannot be resolved; `path` is relative to the spec root."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


@dataclass(frozen=True)
class ResolvedNode:
    """One Ray node type, fully decided."""

    group: str  # "head" or the node group's name in the spec
    ray_name: str  # key in the Ray config's available_node_types
    is_head: bool
    instance: InstanceType | None  # None on the local cluster
    cpus: int
    gpus: int
    gpu_model: str | None
    custom_resources: dict[str, int] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    min_nodes: int = 0
    max_nodes: int = 0
    spot: bool = False
    disk_gb: int | None = None
    image: str | None = None
    fast_networking: bool = False  # EFA (AWS), gVNIC (GCP), accelerated networking (Azure)
    placement: bool = False  # member of the cluster's placement group / policy
    object_store_mb: int | None = None  # local only

    @property
    def spec_path(self) -> tuple[str, ...]:
        return ("head",) if self.is_head else ("node_groups", self.group)

    def ray_resources(self) -> dict[str, int]:
        resources: dict[str, int] = {"CPU": self.cpus}
        if self.gpus:
            resources["GPU"] = self.gpus
        resources.update(self.custom_resources)
        return resources

    def price_per_hour(self) -> float | None:
        if self.instance is None or self.instance.price_per_hour is None:
            return None
        price = self.instance.price_per_hour
        if self.spot:
            from provisioner.catalog import spot_discount

            price *= spot_discount(self.instance.cloud)
        return price


def resolve_instance(cloud: str, node: Any, path: tuple[str, ...], *, is_head: bool) -> InstanceType:
    """The instance type a cloud node spec asks for, by name, by accelerators, or the default head."""
    catalog = get_catalog(cloud)
    by_name: InstanceType | None = None
    if node.instance_type is not None:
        by_name = catalog.get(node.instance_type)
        if by_name is None:
            close = catalog.suggest(node.instance_type)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; `rlcloud catalog {cloud}` lists known types"
            raise ResolutionError((*path, "instance_type"), f"unknown {cloud} type {node.instance_type!r}{hint}")
    if node.accelerators is not None:
        req = node.accelerators
        if by_name is not None:
            if by_name.gpu_model != _canonical(req.name) or by_name.gpu_count != req.count:
                have = f"{by_name.gpu_count}x {by_name.gpu_model}" if by_name.gpu_count else "no GPUs"
                raise ResolutionError(
                    (*path, "accelerators"),
                    f"{req} does not match instance_type {by_name.name}, which has {have}; drop one of the two",
                )
            return by_name
        try:
            return catalog.resolve_accelerator(req.name, req.count)
        except LookupError as exc:
            raise ResolutionError((*path, "accelerators"), str(exc)) from None
    if by_name is not None:
        return by_name
    if is_head:
        head_type = driver_for(cloud).default_head_type
        assert head_type is not None, f"the {cloud} driver has a catalog but no default head type"
        return catalog.types[head_type]
    raise ResolutionError(path, "give `instance_type` or `accelerators` (e.g. accelerators: L4:1)")


def _canonical(name: str) -> str:
    from provisioner.catalog import canonical_gpu

    return canonical_gpu(name)


def _fast_networking(spec: ClusterSpecBase, node: Any, inst: InstanceType, path: tuple[str, ...], is_head: bool) -> bool:
    """Decide EFA / gVNIC / accelerated networking for one node type; raise when 'on' cannot be met."""
    assert isinstance(spec, CloudClusterSpec), "only clouds with a catalog resolve instance types"
    group_setting = None if is_head else node.fast_networking
    setting = group_setting or spec.network.fast_networking
    where = (*path, "fast_networking") if group_setting else ("network", "fast_networking")
    choice = FastNetworkingChoice(setting=setting, group_setting=group_setting, instance=inst, is_head=is_head, label=_group_label(path))
    try:
        return driver_for(spec.cloud).fast_networking(choice)
    except ValueError as exc:
        raise ResolutionError(where, str(exc)) from None


def _group_label(path: tuple[str, ...]) -> str:
    return "head" if path == ("head",) else f"group {path[-1]}"


def _placement(spec: ClusterSpecBase, node: Any, inst: InstanceType, path: tuple[str, ...], is_head: bool) -> bool:
    assert isinstance(spec, CloudClusterSpec), "only clouds with a catalog resolve instance types"
    if is_head:
        return False
    if spec.network.placement == "none":
        if node.placement:
            raise ResolutionError((*path, "placement"), "placement: true needs network.placement (cluster / compact / proximity)")
        return False
    return node.placement if node.placement is not None else (inst.has_gpu and not node.spot)


def resolve_nodes(spec: ClusterSpecBase) -> list[ResolvedNode]:
    """Every node type of the spec, head first. Raises ResolutionError on the first problem."""
    nodes: list[ResolvedNode] = []
    for group, node in spec.group_items():
        is_head = group == "head"
        path: tuple[str, ...] = ("head",) if is_head else ("node_groups", group)
        ray_name = HEAD_RAY_NAME if is_head else group
        min_nodes = 0 if is_head else node.min_nodes
        max_nodes = 0 if is_head else node.max_nodes
        gpus = node.accelerators.count if node.accelerators else 0
        if not driver_for(spec.cloud).catalog:
            nodes.append(
                ResolvedNode(
                    group=group,
                    ray_name=ray_name,
                    is_head=is_head,
                    instance=None,
                    cpus=node.cpus,
                    gpus=gpus,
                    gpu_model=node.accelerators.name if node.accelerators else None,
                    custom_resources=dict(node.resources),
                    labels=dict(node.labels),
                    min_nodes=min_nodes,
                    max_nodes=max_nodes,
                    object_store_mb=node.object_store_mb,
                )
            )
            continue
        inst = resolve_instance(spec.cloud, node, path, is_head=is_head)
        if node.cpus is not None and node.cpus > inst.vcpus:
            raise ResolutionError((*path, "cpus"), f"{node.cpus} CPUs but {inst.name} has {inst.vcpus} vCPUs")
        nodes.append(
            ResolvedNode(
                group=group,
                ray_name=ray_name,
                is_head=is_head,
                instance=inst,
                cpus=node.cpus if node.cpus is not None else inst.vcpus,
                gpus=inst.gpu_count,
                gpu_model=inst.gpu_model,
                custom_resources=dict(node.resources),
                labels=dict(node.labels),
                min_nodes=min_nodes,
                max_nodes=max_nodes,
                spot=False if is_head else node.spot,
                disk_gb=node.disk_gb,
                image=node.image,
                fast_networking=_fast_networking(spec, node, inst, path, is_head),
                placement=_placement(spec, node, inst, path, is_head),
            )
        )
    return nodes
