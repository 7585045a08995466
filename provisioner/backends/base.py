"""The verbs every cluster backend offers, and what they return."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from provisioner.cluster.dashboard import DashboardEndpoint
from provisioner.cluster.status import ClusterStatus
from provisioner.plan import Plan
from provisioner.progress import Progress
from provisioner.spec.models import ClusterSpecBase


@dataclass
class UpResult:
    changed: bool  # False when the cluster was already up as specified
    message: str
    dashboard: str | None = None
    status: ClusterStatus | None = None
    ray_config_path: str | None = None


@dataclass
class DownResult:
    changed: bool  # False when there was nothing to take down
    message: str
    left_behind: list[str] = field(default_factory=list)  # what could not be deleted, with how to


class ClusterBackend(Protocol):
    def up(
        self,
        spec: ClusterSpecBase,
        *,
        progress: Progress,
        timeout_s: float,
        assume_yes: bool,
        provision_only: bool = False,
        restart_ray: bool = False,
    ) -> UpResult: ...

    def plan(self, spec: ClusterSpecBase, progress: Progress | None = None) -> Plan: ...

    def down(self, spec: ClusterSpecBase, *, progress: Progress, assume_yes: bool, purge_storage: bool) -> DownResult: ...

    def status(self, spec: ClusterSpecBase) -> ClusterStatus: ...

    def endpoint(self, spec: ClusterSpecBase) -> AbstractContextManager[DashboardEndpoint]: ...

    def checkpoint_uri(self, spec: ClusterSpecBase) -> str | None: ...
