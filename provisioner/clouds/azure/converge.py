"""One code path for `plan` and `up`: read each resource, decide create / keep / update / use,
and (only when applying) make the change and record it in the cluster state at once.

Because `plan` runs exactly the reads and decisions `up` runs, the plan cannot promise
something `up` then does differently, and an `up` with nothing to change makes only GETs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from provisioner.clouds.azure.errors import azure_errors
from provisioner.clouds.base import ProvisionContext
from provisioner.errors import CloudError
from provisioner.plan import PlannedResource
from provisioner.state import CloudResource

ArmJson = dict[str, Any]


def _in_sync(_: ArmJson) -> str | None:
    return None


def _always_ours(_: ArmJson) -> bool:
    return True


@dataclass
class Step:
    """One resource `up` makes sure of."""

    kind: str  # state / plan kind, e.g. network_security_group
    name: str
    read: Callable[[], ArmJson | None]  # GET; None when absent
    put: Callable[[], ArmJson] | None  # create-or-update; None for what the user brings
    drift: Callable[[ArmJson], str | None] = _in_sync  # what differs from the spec, if anything
    owned: Callable[[ArmJson], bool] = _always_ours  # carries our tags (else: used, never changed)
    missing_hint: str = ""  # for resources the user brings: how to fix their absence
    foreign_hint: str = ""  # for a same-named resource without our tags: what to do
    detail: str = ""  # shown in the plan next to create / keep
    recorded: bool = True  # False for what Ray owns (its VMs): `down` finds those by tag


@dataclass
class Converger:
    ctx: ProvisionContext
    apply: bool  # False: plan only, no mutating call
    region: str
    planned: list[PlannedResource] = field(default_factory=list)

    def _plan(self, step: Step, action: str, detail: str = "") -> None:
        self.planned.append(PlannedResource(kind=step.kind, name=step.name, action=action, detail=detail))  # type: ignore[arg-type]

    def _record(self, step: Step, resource: ArmJson, created: bool) -> None:
        if not self.apply or not step.recorded:
            return
        self.ctx.state.record(CloudResource(kind=step.kind, id=str(resource.get("id") or step.name), region=self.region, created=created))
        self.ctx.save()

    def ensure(self, step: Step) -> ArmJson | None:
        """The resource after this step (None only when planning something not yet there)."""
        with azure_errors(f"read {step.kind} {step.name}"):
            existing = step.read()
        if step.put is None:  # the user's own: used as is
            if existing is None:
                raise CloudError(f"{step.kind} {step.name} named in the spec does not exist", hint=step.missing_hint)
            self._plan(step, "use", "yours; never modified or deleted")
            self._record(step, existing, created=False)
            return existing
        if existing is not None and not step.owned(existing):
            # Adopting it would put it under rlcloud's rules (and `down`); using it as is could
            # leave a firewall rlcloud does not control. Only what the spec names is used.
            raise CloudError(
                f"{step.kind} {step.name} already exists but was not created by rlcloud for this cluster",
                hint=step.foreign_hint or "rename or delete it, or name a different cluster",
            )
        if existing is None:
            change: str | None = step.detail or "new"
            action = "create"
        else:
            change = step.drift(existing)
            action = "update"
        if change is None:
            self._plan(step, "keep", step.detail)
            self._record(step, existing or {}, created=True)
            return existing
        self._plan(step, action, change)
        if not self.apply:
            return existing
        with azure_errors(f"{action} {step.kind} {step.name}"):
            result = step.put()
        self._record(step, result, created=True)
        return result
