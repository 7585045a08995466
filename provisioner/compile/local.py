"""Local spec -> Ray `fake_multinode` autoscaling config (pure).

The real Ray autoscaler runs on this machine and "launches" worker nodes as extra raylet
processes with the resources of their node type, so simulated GPUs are Ray resources only.
Node types keep the names and resources of the cloud templates, so a job that schedules on
the local cluster schedules the same way on a cloud.
"""

from __future__ import annotations

from typing import Any

from provisioner.compile.common import node_type_entry
from provisioner.compile.context import CompileContext
from provisioner.local.node_provider_name import PROVIDER_CLASS
from provisioner.refs import LocalRefs
from provisioner.spec.models import LocalClusterSpec
from provisioner.spec.resolve import ResolvedNode, resolve_nodes

MB = 1024 * 1024


def _resources(node: ResolvedNode) -> dict[str, int]:
    resources = node.ray_resources()
    if not node.is_head and node.object_store_mb:
        # The fake provider reads the simulated node's object store size from here.
        resources["object_store_memory"] = node.object_store_mb * MB
    return resources


def compile_local(spec: LocalClusterSpec, ctx: CompileContext, refs: LocalRefs | None = None) -> dict[str, Any]:
    refs = refs or LocalRefs()
    nodes = resolve_nodes(spec)
    node_types: dict[str, Any] = {}
    for node in nodes:
        entry = node_type_entry(node, {})
        entry["resources"] = _resources(node)
        node_types[node.ray_name] = entry
    return {
        "cluster_name": spec.name,
        "max_workers": sum(n.max_nodes for n in nodes),
        "upscaling_speed": spec.ray.upscaling_speed,
        "idle_timeout_minutes": spec.ray.idle_timeout_minutes,
        "provider": {
            # Ray's fake_multinode provider, subclassed only to stop simulated nodes from
            # repeating every log line (see provisioner/local/node_provider.py).
            "type": "external",
            "module": PROVIDER_CLASS,
            # Simulated nodes join this head, not a default port 6379 another cluster may own.
            "gcs_address": f"127.0.0.1:{refs.gcs_port}",
            "use_node_id_as_ip": True,
            # No SSH on simulated nodes: nothing to update, and their launch config never drifts.
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
        },
        "auth": {},
        "head_node_type": "ray.head.default",
        "available_node_types": node_types,
        "docker": {},
        # Simulated nodes are processes started by the autoscaler on this machine: they
        # inherit RAY_AUTH_TOKEN_PATH from it, so there is nothing to ship.
        "file_mounts": {},
        "cluster_synced_files": [],
        "file_mounts_sync_continuously": False,
        "rsync_exclude": [],
        "rsync_filter": [],
        "initialization_commands": [],
        "setup_commands": [],
        "head_setup_commands": [],
        "worker_setup_commands": [],
        "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }
