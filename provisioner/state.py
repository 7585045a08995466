"""What rlcloud remembers about a cluster between commands, in ~/.rlcloud/clusters/NAME/.

state.json records what `up` created (so `down` can delete exactly that, and a half-finished
`up` can be finished), the ids the compiler references, and for local clusters the ports and
processes. Files are written atomically (temp file + rename): a crash never leaves half a
state file, which would make the next `up` or `down` guess.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from provisioner import naming

STATE_FILE = "state.json"


class LocalRuntime(BaseModel):
    """Where a local cluster listens and how to find its processes."""

    model_config = ConfigDict(extra="forbid")

    gcs_port: int = Field(description="Ray GCS port of the head.")
    dashboard_port: int = Field(description="Dashboard / Jobs API port (127.0.0.1 only).")
    client_port: int = Field(description="Ray client server port.")
    agent_port: int = Field(description="Dashboard agent listen port of the head.")
    temp_dir: str = Field(description="Ray temp dir of this cluster; every process of it carries this path or the GCS port.")
    head_pids: list[int] = Field(default_factory=list, description="PIDs of the head's processes when `up` finished.")


class CloudResource(BaseModel):
    """One cloud resource `up` created (or found and adopted), so `down` can remove it."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="e.g. security_group, placement_group, iam_role, bucket.")
    id: str = Field(description="The cloud's id or name for it.")
    region: str | None = Field(default=None, description="Region / location, when it has one.")
    created: bool = Field(default=True, description="True when rlcloud created it; False for resources the user brought (never deleted).")
    extra: dict[str, Any] = Field(default_factory=dict, description="Anything deletion needs (e.g. a VPC id).")


class ClusterState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    cloud: str
    spec_path: str | None = None
    status: Literal["provisioning", "provisioned", "starting", "up", "down"] = "provisioning"
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    checkpoint_uri: str | None = None
    local: LocalRuntime | None = None
    refs: dict[str, Any] = Field(default_factory=dict, description="Cloud ids the compiler references (AwsRefs, ...).")
    resources: list[CloudResource] = Field(default_factory=list)

    def resource(self, kind: str) -> CloudResource | None:
        return next((r for r in self.resources if r.kind == kind), None)

    def record(self, resource: CloudResource) -> None:
        """Add or replace the resource of this kind + id."""
        self.resources = [r for r in self.resources if not (r.kind == resource.kind and r.id == resource.id)]
        self.resources.append(resource)


def state_path(name: str) -> Path:
    return naming.state_dir(name) / STATE_FILE


def load_state(name: str) -> ClusterState | None:
    path = state_path(name)
    try:
        return ClusterState.model_validate_json(path.read_text())
    except FileNotFoundError:
        return None


def save_state(state: ClusterState) -> Path:
    state.updated_at = time.time()
    path = state_path(state.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state.model_dump(mode="json"), indent=2) + "\n")
    os.replace(tmp, path)
    return path


def delete_state(name: str) -> None:
    state_path(name).unlink(missing_ok=True)


def load_refs(spec: Any) -> BaseModel | None:
    """The compiler refs recorded by the last `up` of this cluster, or None."""
    state = load_state(spec.name)
    if state is None or not state.refs:
        return None
    from provisioner.drivers import driver_for

    return driver_for(spec.cloud).refs.model_validate(state.refs)
