"""What every GCP step works with: the clients, the spec, and the cluster state it records
each resource in the moment it exists (and forgets it the moment it is gone).

A step is one kind of resource around the cluster (node identity, checkpoint bucket, VMs) and
offers the provisioner verbs for it; firewall rules and the placement policy are declared as
provisioner.clouds.reconcile.Resource instead, which is where the steps are headed. `up` runs steps
in order; `down` runs them in reverse, so nothing is deleted while something still uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from provisioner.clouds.base import ProvisionContext
from provisioner.clouds.gcp.clients import GcpClients
from provisioner.plan import PlannedResource
from provisioner.spec.models import GcpClusterSpec
from provisioner.state import CloudResource


@dataclass
class Scope:
    clients: GcpClients
    ctx: ProvisionContext
    # Reads several steps of one verb need (e.g. whether each of the cluster's accounts
    # exists), fetched once; a step that changes what was read drops it (`unread`).
    _reads: dict[str, Any] = field(default_factory=dict)

    def read_once(self, key: str, read: Callable[[], Any]) -> Any:
        if key not in self._reads:
            self._reads[key] = read()
        return self._reads[key]

    def unread(self, key: str) -> None:
        self._reads.pop(key, None)

    @property
    def spec(self) -> GcpClusterSpec:
        return self.ctx.spec  # type: ignore[return-value]

    @property
    def project(self) -> str:
        return self.spec.project

    def step(self, message: str) -> None:
        self.ctx.progress.step(message)

    def record(self, kind: str, id: str, *, region: str | None = None, created: bool = True, **extra: Any) -> None:
        """Remember a resource now, so a failure later leaves a state `up` and `down` finish."""
        existing = next((r for r in self.ctx.state.resources if r.kind == kind and r.id == id), None)
        wanted = CloudResource(kind=kind, id=id, region=region, created=created, extra=extra)
        if existing != wanted:
            self.ctx.state.record(wanted)
            self.ctx.save()

    def forget(self, kind: str, id: str) -> None:
        before = len(self.ctx.state.resources)
        self.ctx.state.resources = [r for r in self.ctx.state.resources if not (r.kind == kind and r.id == id)]
        if len(self.ctx.state.resources) != before:
            self.ctx.save()

    def recorded(self, kind: str, id: str) -> CloudResource | None:
        return next((r for r in self.ctx.state.resources if r.kind == kind and r.id == id), None)


class Step(Protocol):
    def plan_up(self) -> list[PlannedResource]:
        """create / keep / update / use, read from the cloud."""
        ...

    def apply(self) -> None:
        """Create or update what is missing; record each resource as it appears."""
        ...

    def plan_down(self, purge_storage: bool) -> list[PlannedResource]:
        """delete (and keep) for this cluster, from the state and from what the cloud holds."""
        ...

    def destroy(self, purge_storage: bool) -> list[str]:
        """Delete; returns one line per resource left, with the command that deletes it."""
        ...
