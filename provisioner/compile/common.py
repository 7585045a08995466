"""The cloud-independent part of a Ray cluster config: autoscaling, commands, auth token.

Security choices made here, for every cloud:
- Token authentication (RAY_AUTH_MODE=token, Ray >= 2.52) on every node. The token file is
  shipped with `file_mounts` (the YAML holds only its local path, never its value) and read
  by `ray start` through RAY_AUTH_TOKEN_PATH, so it appears in no command line or log.
- The dashboard / Jobs API binds to 127.0.0.1 on the head; rlcloud reaches it through an SSH
  tunnel, as `ray dashboard cluster.yaml` does.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from provisioner import naming
from provisioner.compile.context import CompileContext
from provisioner.spec.models import ClusterSpecBase
from provisioner.spec.resolve import HEAD_RAY_NAME, ResolvedNode

GCS_PORT = 6379
DASHBOARD_PORT = 8265
OBJECT_MANAGER_PORT = 8076
# On the nodes, $HOME is expanded by the shell; file_mounts take "~" paths.
REMOTE_TOKEN_ENV_PATH = "$HOME/.rlcloud/auth_token"


def _env_prefix(spec: ClusterSpecBase) -> str:
    exports = {"RAY_AUTH_MODE": "token"}
    exports.update(spec.ray.env)
    parts = " ".join(f"{k}={shlex.quote(v)}" for k, v in exports.items())
    # The token path must expand $HOME, so it is written unquoted.
    return f"export {parts} RAY_AUTH_TOKEN_PATH={REMOTE_TOKEN_ENV_PATH};"


def head_start_commands(spec: ClusterSpecBase, head: ResolvedNode) -> list[str]:
    args = [
        "ray start --head",
        f"--port={GCS_PORT}",
        f"--object-manager-port={OBJECT_MANAGER_PORT}",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={DASHBOARD_PORT}",
        f"--num-cpus={head.cpus}",
        "--autoscaling-config=~/ray_bootstrap_config.yaml",
        "--disable-usage-stats",
    ]
    return [
        "ray stop",
        f"{_env_prefix(spec)} chmod 600 {REMOTE_TOKEN_ENV_PATH}; ulimit -n 65536; " + " ".join(args),
    ]


def worker_start_commands(spec: ClusterSpecBase) -> list[str]:
    args = [
        f"ray start --address=$RAY_HEAD_IP:{GCS_PORT}",
        f"--object-manager-port={OBJECT_MANAGER_PORT}",
        "--disable-usage-stats",
    ]
    return [
        "ray stop",
        f"{_env_prefix(spec)} chmod 600 {REMOTE_TOKEN_ENV_PATH}; ulimit -n 65536; " + " ".join(args),
    ]


def install_commands(spec: ClusterSpecBase) -> list[str]:
    """Install the Ray version the spec names, then the user's setup commands."""
    if spec.ray.docker is not None or spec.ray.preinstalled:
        return list(spec.ray.setup_commands)  # the container or machine image carries Ray
    return [
        f'python3 -m pip install --quiet --upgrade "ray[default]=={spec.ray.version}"',
        *spec.ray.setup_commands,
    ]


def node_type_entry(node: ResolvedNode, node_config: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "node_config": node_config,
        "resources": node.ray_resources(),
        "min_workers": node.min_nodes,
        "max_workers": node.max_nodes,
    }
    if node.labels:
        entry["labels"] = dict(node.labels)
    return entry


def base_config(spec: ClusterSpecBase, nodes: list[ResolvedNode], ctx: CompileContext) -> dict[str, Any]:
    """Everything except `provider`, `auth` and each node type's `node_config`."""
    head = nodes[0]
    config: dict[str, Any] = {
        "cluster_name": spec.name,
        "max_workers": sum(n.max_nodes for n in nodes),
        "upscaling_speed": spec.ray.upscaling_speed,
        "idle_timeout_minutes": spec.ray.idle_timeout_minutes,
        "head_node_type": HEAD_RAY_NAME,
        "available_node_types": {},
        # remote path -> local path: the token's value never enters this file.
        "file_mounts": {naming.REMOTE_TOKEN_PATH: str(ctx.token_file)},
        "cluster_synced_files": [],
        "file_mounts_sync_continuously": False,
        "rsync_exclude": ["**/.git", "**/.git/**"],
        "rsync_filter": [".gitignore"],
        "initialization_commands": [],
        "setup_commands": install_commands(spec),
        "head_setup_commands": list(spec.ray.head_setup_commands),
        "worker_setup_commands": list(spec.ray.worker_setup_commands),
        "head_start_ray_commands": head_start_commands(spec, head),
        "worker_start_ray_commands": worker_start_commands(spec),
    }
    if spec.ray.docker is not None:
        docker = spec.ray.docker
        config["docker"] = {
            "image": docker.image,
            "container_name": docker.container_name,
            "pull_before_run": docker.pull_before_run,
            "run_options": ["--ulimit nofile=65536:65536", *docker.run_options],
        }
    return config


# Where modules shipped to the head live: a directory on the head's `ray start` PYTHONPATH.
# Shipped without __init__.py files, the folders are PEP 420 namespace packages, so a module
# keeps its dotted name (e.g. provisioner.clouds.gcp.node_provider) on a head where the rest of
# rlcloud is not installed.
REMOTE_PYTHON_DIR = "~/.rlcloud/python"
REMOTE_PYTHON_DIR_SHELL = "$HOME/.rlcloud/python"


def ship_to_head(
    config: dict[str, Any],
    modules: Mapping[str, str],
    pip_packages: Sequence[str],
    env: Mapping[str, str] | None = None,
) -> None:
    """Make modules importable by the head's autoscaler (a child of `ray start`).

    `modules` maps a path relative to the shipped python dir (e.g.
    "provisioner/clouds/gcp/node_provider.py") to the local file; `pip_packages` are installed
    on the head first; `env` is exported (not secret values: it lands in the YAML) for `ray start`.
    """
    for relative, local in modules.items():
        config["file_mounts"][f"{REMOTE_PYTHON_DIR}/{relative}"] = local
    if pip_packages:
        install = "python3 -m pip install --quiet " + " ".join(f'"{p}"' for p in pip_packages)
        config["head_setup_commands"] = [install, *config["head_setup_commands"]]
    exports = f"export PYTHONPATH={REMOTE_PYTHON_DIR_SHELL}${{PYTHONPATH:+:$PYTHONPATH}};"
    for key, value in (env or {}).items():
        exports += f" export {key}={shlex.quote(value)};"
    config["head_start_ray_commands"] = [
        f"{exports} {command}" if "ray start" in command else command for command in config["head_start_ray_commands"]
    ]
