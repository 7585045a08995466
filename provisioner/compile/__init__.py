"""Compilers: a validated spec -> a Ray autoscaler cluster config (a plain dict).

Pure functions: no cloud calls, no file writes. One module per cloud (aws.py, gcp.py, azure.py,
local.py); each cloud's driver names its compiler, and `provisioner.drivers.compile_cluster`
runs the right one.
"""

from __future__ import annotations

from typing import Any

from provisioner.compile.context import CompileContext, is_pending, pending

__all__ = [
    "CompileContext",
    "find_pending",
    "is_pending",
    "pending",
]


def find_pending(config: Any, path: str = "") -> list[str]:
    """Paths of every placeholder `up` still has to fill (empty once provisioned)."""
    found: list[str] = []
    if isinstance(config, dict):
        for key, value in config.items():
            found += find_pending(value, f"{path}.{key}" if path else str(key))
    elif isinstance(config, list):
        for index, value in enumerate(config):
            found += find_pending(value, f"{path}[{index}]")
    elif is_pending(config):
        found.append(f"{path} = {config}")
    return found
