"""The verbs every cloud provisioner implements; the generic flow lives in backends/cloud.py.

A provisioner creates what must exist around the Ray cluster (firewall, placement, identity,
bucket, key pair), records each resource in the cluster state the moment it exists (so a
failure half-way leaves a state that the next `up` finishes and `down` removes), and
deletes exactly what it created. It never builds Ray YAML: it returns refs the compiler uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel

from provisioner.plan import PlannedResource
from provisioner.progress import Progress
from provisioner.spec.models import ClusterSpecBase
from provisioner.state import ClusterState, save_state


@dataclass
class ProvisionContext:
    spec: ClusterSpecBase
    state: ClusterState
    progress: Progress
    ssh_cidrs: list[str] = field(default_factory=list)  # resolved ("auto" -> this machine's /32)
    ssh_public_key: str | None = None  # OpenSSH text; None while only planning

    def save(self) -> None:
        """Persist the state now (call right after each resource is created or deleted)."""
        save_state(self.state)


class CloudProvisioner(Protocol):
    cloud: str

    def plan_up(self, ctx: ProvisionContext) -> list[PlannedResource]:
        """What `up` would create / keep / update, read from the cloud; no side effects."""
        ...

    def apply(self, ctx: ProvisionContext) -> BaseModel:
        """Create what is missing (idempotent), return the compiler refs (AwsRefs, ...)."""
        ...

    def plan_down(self, ctx: ProvisionContext, purge_storage: bool) -> list[PlannedResource]:
        """What `down` would delete (and what it keeps, e.g. a user's bucket)."""
        ...

    def destroy(self, ctx: ProvisionContext, purge_storage: bool) -> list[str]:
        """Delete what rlcloud created and sweep anything still tagged for the cluster
        (instances Ray launched included). Returns what could not be deleted, each with the
        command that deletes it."""
        ...

    def head_address(self, ctx: ProvisionContext) -> str | None:
        """IP (public, or private with use_internal_ips) of the running head, if any."""
        ...
