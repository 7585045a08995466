"""Compilers: a validated spec -> a Ray autoscaler cluster config (a plain dict).

Pure functions: no cloud calls, no file writes. `compile_cluster` dispatches on the cloud.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from provisioner.compile.context import CompileContext, is_pending, pending
from provisioner.spec.models import ClusterSpecBase

__all__ = [
    "CompileContext",
    "compile_cluster",
    "find_pending",
    "is_pending",
    "pending",
]


def compile_cluster(spec: ClusterSpecBase, ctx: CompileContext | None = None, refs: BaseModel | None = None) -> dict[str, Any]:
    """The Ray cluster config for `spec`. `refs` carries ids from provisioning, if any."""
    ctx = ctx or CompileContext.for_cluster(spec.name)
    if spec.cloud == "aws":
        from provisioner.compile.aws import compile_aws

        return compile_aws(spec, ctx, refs)  # type: ignore[arg-type]
    if spec.cloud == "gcp":
        from provisioner.compile.gcp import compile_gcp

        return compile_gcp(spec, ctx, refs)  # type: ignore[arg-type]
    if spec.cloud == "azure":
        from provisioner.compile.azure import compile_azure

        return compile_azure(spec, ctx, refs)  # type: ignore[arg-type]
    if spec.cloud == "local":
        from provisioner.compile.local import compile_local

        return compile_local(spec, ctx, refs)  # type: ignore[arg-type]
    raise ValueError(f"no compiler for cloud {spec.cloud!r}")


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
