"""The one reconciler every cloud runs: clouds declare resources, this engine does the rest.

A cloud describes each resource it manages as a `Resource`: how to read it, how to tell it
drifted from the spec, how to create, update and delete it, how to tell it is ours, what
it depends on, and the command a person would use to delete it by hand. The engine owns,
once for every cloud:

- `plan` == `up`: `ensure` runs the same reads and decisions whether applying or not, so a
  plan cannot promise what `up` then does differently, and an `up` with nothing to change
  makes only reads;
- recording each resource in the cluster state the moment it exists (a failure half-way
  leaves a state the next `up` finishes and `down` removes), and forgetting it on delete;
- ownership: a same-named resource without our marks stops `up` and is never deleted;
- retries while the cloud is "in use" / "not yet consistent" / throttling (provisioner.retry);
- `down`: deletes in reverse dependency order, independent deletes in parallel, a second
  pass for what appeared during the first (a node an autoscaler launched meanwhile), and
  the report of whatever is left, each with the command that deletes it.

Cloud errors reach the engine through the cloud's `ErrorMapping` (provisioner/clouds/errors.py),
so the engine decides by kind (`InUse`, `NotFound`, ...) and never by an SDK's codes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from provisioner.clouds.base import ProvisionContext
from provisioner.clouds.errors import TRANSIENT, AlreadyExists, ErrorMapping, InUse, Kind, NotFound, NotYetConsistent, Throttled
from provisioner.errors import CloudError
from provisioner.plan import Action, PlannedResource
from provisioner.retry import retry_while
from provisioner.state import CloudResource

T = TypeVar("T")

WRITE_BUDGET_S = 120.0  # a create or update waiting out "not yet consistent"
DELETE_BUDGET_S = 180.0  # a delete waiting out "in use" (instances still terminating)
PARALLEL_DELETES = 8

# How a wait is worded, in the cloud's terms: "security_group sg-1: still in use (DependencyViolation)".
WAITING_WORDS: dict[Kind, str] = {InUse: "still in use", NotYetConsistent: "not visible yet", Throttled: "throttled"}
DOWN_PASSES = 2


def _in_sync(_: Any) -> str | None:
    return None


def _ours(_: Any) -> bool:
    return True


@dataclass
class Resource(Generic[T]):
    """One resource of a cluster, declared by its cloud.

    `read` returns the resource as the cloud reports it, or None when absent. Without
    `create` it is the user's own (named in the spec): read, used, never changed or deleted.
    Without `update`, `create` is create-or-update (an ARM or GCS PUT) and also fixes drift.
    Without `delete` it is never deleted by itself: it goes with the resource it is `inside`
    (a resource group), or it is the user's.
    """

    kind: str  # the state / plan kind, e.g. security_group
    name: str
    read: Callable[[], T | None]
    create: Callable[[], T] | None = None
    update: Callable[[T], T] | None = None
    delete: Callable[[T], object] | None = None
    drift: Callable[[T], str | None] = _in_sync  # what differs from the spec, or None
    owned: Callable[[T], bool] = _ours  # carries rlcloud's marks for this cluster
    ident: Callable[[T], str] | None = None  # the id recorded in state, read from the resource
    state_id: str | None = None  # that id when known without reading (default: the name)
    extra: Callable[[T], dict[str, Any]] | None = None  # more that state should remember
    depends_on: tuple[str, ...] = ()  # keys of resources this one needs (deleted after it)
    inside: str | None = None  # key of a container whose deletion deletes this one too
    delete_command: str = ""  # how a person deletes it by hand, for the leftovers report
    detail: str = ""  # shown in the plan next to create / keep
    missing_hint: str = ""  # the user's own, absent: how to fix that
    foreign_hint: str = ""  # same name, not ours: what to do
    recorded: bool = True  # False for what `down` finds by tag anyway (Ray's instances)
    region: str | None = None  # recorded region, when not the engine's (a GCP regional resource)
    kept_on_down: str | None = None  # why `down` keeps it (checkpoints without --purge-storage)

    @property
    def key(self) -> str:
        return key_of(self.kind, self.name)

    @property
    def expected_id(self) -> str:
        return self.state_id or self.name

    def id_of(self, found: T) -> str:
        return self.ident(found) if self.ident is not None else self.expected_id


def key_of(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def used(kind: str, name: str, found: object, detail: str) -> Resource[object]:
    """Something the cluster uses as the spec or a read found it (a VPC, an image, an account
    the user named): a "use" row in the plan, never recorded, changed or deleted."""
    return Resource(kind=kind, name=name, read=lambda: found, detail=detail, recorded=False)


def gone(kind: str, rid: str) -> Resource[object]:
    """A resource the state records that `down` found gone: read as absent, so forgotten."""
    return Resource(kind=kind, name=rid, read=lambda: None)


@dataclass
class Leftover:
    """Something `down` could not delete, with the reason and the command that deletes it."""

    kind: str
    name: str
    reason: str
    delete_command: str

    def __str__(self) -> str:
        how = f"; delete with: {self.delete_command}" if self.delete_command else ""
        return f"{self.kind} {self.name}: {self.reason}{how}"


@dataclass
class Reconciler:
    """Runs one cloud's declared resources for `plan`, `up`, `plan_down` and `down`."""

    ctx: ProvisionContext
    errors: ErrorMapping
    apply: bool  # False: plan only, no mutating call
    region: str | None = None
    write_budget_s: float = WRITE_BUDGET_S
    delete_budget_s: float = DELETE_BUDGET_S
    planned: list[PlannedResource] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------------ up
    def ensure(self, resource: Resource[T]) -> T | None:
        """The resource after this step: read, then create / update / keep / use it.

        Returns None only while planning something that does not exist yet."""
        existing = self._read(resource)
        if resource.create is None:
            if existing is None:
                raise CloudError(f"{resource.kind} {resource.name} named in the spec does not exist", hint=resource.missing_hint or None)
            self._plan(resource, "use", resource.detail or "yours; never modified or deleted")
            self._record(resource, existing, created=False)
            return existing
        if existing is not None and not resource.owned(existing):
            # Adopting it would put it under rlcloud's rules (and `down`); using it as is could
            # leave, say, a firewall rlcloud does not control. Only what the spec names is used.
            raise CloudError(
                f"{resource.kind} {resource.name} already exists but was not created by rlcloud for this cluster",
                hint=resource.foreign_hint or "rename or delete it, or name a different cluster",
            )
        if existing is None:
            change: str | None = resource.detail or "new"
            action: Action = "create"
        else:
            change = resource.drift(existing)
            action = "update"
        if change is None:
            assert existing is not None
            self._plan(resource, "keep", resource.detail)
            self._record(resource, existing, created=True)
            return existing
        self._plan(resource, action, change)
        if not self.apply:
            return existing
        self.ctx.progress.step(
            f"{'creating' if action == 'create' else 'updating'} {resource.kind} {resource.name}" + (f" ({change})" if change != "new" else "")
        )
        result = self._write(resource, existing)
        self._record(resource, result, created=True)
        return result

    def _read(self, resource: Resource[T]) -> T | None:
        with self.errors.calls(f"read {resource.kind} {resource.name}"):
            try:
                return resource.read()
            except Exception as exc:
                if self.errors.is_kind(exc, NotFound):
                    return None
                raise

    def _write(self, resource: Resource[T], existing: T | None) -> T:
        create, update = resource.create, resource.update
        assert create is not None

        def write() -> T:
            if existing is not None and update is not None:
                return update(existing)
            return create()

        doing = f"{'create' if existing is None else 'update'} {resource.kind} {resource.name}"
        with self.errors.calls(doing):
            try:
                return self._retrying(write, self.write_budget_s, doing)
            except Exception as exc:
                if existing is not None or not self.errors.is_kind(exc, AlreadyExists):
                    raise
        # Created meanwhile (a concurrent `up`, or an earlier call that timed out but
        # succeeded): ours if it carries our marks, else the usual refusal.
        found = self._read(resource)
        if found is None or not resource.owned(found):
            raise CloudError(
                f"{resource.kind} {resource.name} already exists but was not created by rlcloud for this cluster",
                hint=resource.foreign_hint or "rename or delete it, or name a different cluster",
            )
        return found

    def _retrying(self, call: Callable[[], T], budget_s: float, doing: str) -> T:
        def note(exc: Exception, delay: float) -> None:
            found = self.errors.describe(exc)
            state = WAITING_WORDS.get(found.kind, "not ready") if found and found.kind else "not ready"
            code = found.code if found else type(exc).__name__
            self.ctx.progress.waiting(f"{doing}: {state} ({code}); retrying in {delay:.1f}s")

        return retry_while(call, lambda exc: self.errors.is_kind(exc, *TRANSIENT), budget_s=budget_s, on_retry=note)

    # ------------------------------------------------------------------ state
    def _plan(self, resource: Resource[Any], action: Action, detail: str = "") -> None:
        self.planned.append(PlannedResource(kind=resource.kind, name=resource.name, action=action, detail=detail))

    def _record(self, resource: Resource[T], found: T, created: bool) -> None:
        if not self.apply or not resource.recorded:
            return
        record = CloudResource(
            kind=resource.kind,
            id=resource.id_of(found),
            region=resource.region or self.region,
            created=created,
            extra=resource.extra(found) if resource.extra else {},
        )
        with self._lock:
            if record in self.ctx.state.resources:
                return  # unchanged: a second `up` writes no state either
            self.ctx.state.record(record)
            self.ctx.save()

    def _forget(self, kind: str, rid: str) -> None:
        with self._lock:
            before = len(self.ctx.state.resources)
            self.ctx.state.resources = [r for r in self.ctx.state.resources if not (r.kind == kind and r.id == rid)]
            if len(self.ctx.state.resources) != before:
                self.ctx.save()

    # ------------------------------------------------------------------ down
    def plan_down(self, survey: Callable[[], Sequence[Resource[Any]]]) -> list[PlannedResource]:
        """What `down` would delete and what it keeps; reads only."""
        out: list[PlannedResource] = []
        present = self._present(survey(), forget=False)
        for resource, found in present:
            if resource.kept_on_down:
                out.append(PlannedResource(kind=resource.kind, name=resource.name, action="keep", detail=resource.kept_on_down))
            elif resource.delete is None and resource.inside is None:
                out.append(PlannedResource(kind=resource.kind, name=resource.name, action="keep", detail="yours: never deleted"))
            elif resource.owned(found):
                container = resource.inside.split(":", 1)[1] if resource.inside and self._goes_with_container(resource, present) else ""
                where = f"with {container}" if container else ""
                out.append(PlannedResource(kind=resource.kind, name=resource.name, action="delete", detail=where or resource.detail))
        # A plan row names a resource as people write it (gs://b); state records its id (b).
        shown = {(p.kind, p.name) for p in out} | {(r.kind, r.expected_id) for r, _ in present}
        for record in self.ctx.state.resources:
            if not record.created and (record.kind, record.id) not in shown:
                out.append(PlannedResource(kind=record.kind, name=record.id, action="keep", detail="yours: never deleted"))
        return out

    def down(self, survey: Callable[[], Sequence[Resource[Any]]], passes: int = DOWN_PASSES) -> list[Leftover]:
        """Delete every resource `survey` finds that is ours (and not kept), in reverse
        dependency order; survey again and repeat up to `passes` times; return what is left.

        `survey` lists the cluster's resources as they are now: the cloud's declared ones and
        whatever carries the cluster's tags (instances Ray launched)."""
        failures: dict[str, str] = {}
        doomed: list[tuple[Resource[Any], Any]] = []
        for attempt in range(passes + 1):
            doomed = [(r, f) for r, f in self._present(survey(), forget=self.apply) if self._deletable(r, f)]
            if not doomed or attempt == passes:
                break
            self._delete_in_order(doomed, failures)
        # What is inside a container that is left too is not listed: deleting that deletes it.
        left = {r.key for r, _ in doomed}
        return [
            Leftover(r.kind, r.name, failures.get(r.key, f"still there after {passes} passes"), r.delete_command)
            for r, _ in doomed
            if r.inside not in left
        ]

    def _present(self, resources: Sequence[Resource[Any]], *, forget: bool) -> list[tuple[Resource[Any], Any]]:
        """Read each resource; with `forget` (`down`, never its plan: a plan changes nothing,
        the state file included), drop from state what the cloud no longer has."""
        present: list[tuple[Resource[Any], Any]] = []
        seen: set[str] = set()
        for resource in resources:
            if resource.key in seen:
                continue
            seen.add(resource.key)
            found = self._read(resource)
            if found is None:
                if forget:
                    self._forget(resource.kind, resource.expected_id)
            else:
                present.append((resource, found))
        return present

    @staticmethod
    def _deletable(resource: Resource[Any], found: Any) -> bool:
        return (resource.delete is not None or resource.inside is not None) and not resource.kept_on_down and resource.owned(found)

    @staticmethod
    def _goes_with_container(resource: Resource[Any], present: Sequence[tuple[Resource[Any], Any]]) -> bool:
        if resource.inside is None:
            return False
        return any(r.key == resource.inside and r.delete is not None and r.owned(f) and not r.kept_on_down for r, f in present)

    def _delete_in_order(self, doomed: list[tuple[Resource[Any], Any]], failures: dict[str, str]) -> None:
        """Dependents first; each wave (nothing left depends on its members) in parallel."""
        remaining = {r.key: (r, f) for r, f in doomed if not self._goes_with_container(r, doomed)}
        while remaining:
            needed = {dep for r, _ in remaining.values() for dep in r.depends_on}
            wave = [item for key, item in remaining.items() if key not in needed] or list(remaining.values())
            with ThreadPoolExecutor(max_workers=min(PARALLEL_DELETES, len(wave))) as pool:
                list(pool.map(lambda item: self._delete_one(item[0], item[1], failures), wave))
            for resource, _ in wave:
                remaining.pop(resource.key, None)
                if resource.key in failures:
                    self._keep_what_it_needs(resource, remaining, failures)

    @staticmethod
    def _keep_what_it_needs(failed: Resource[Any], remaining: dict[str, tuple[Resource[Any], Any]], failures: dict[str, str]) -> None:
        """A resource still there keeps what it depends on: deleting that would only wait out
        "in use" (a security group under a live instance), or leave the survivor pointing at
        nothing (a binding to a deleted account). The next `down` takes both."""
        pending = list(failed.depends_on)
        while pending:
            key = pending.pop()
            item = remaining.pop(key, None)
            if item is None:
                continue
            failures[key] = f"kept: {failed.kind} {failed.name}, which needs it, is still there"
            pending.extend(item[0].depends_on)

    def _delete_one(self, resource: Resource[T], found: T, failures: dict[str, str]) -> None:
        delete = resource.delete
        if delete is None:  # inside a container that is not being deleted: nothing to do alone
            return
        self.ctx.progress.step(f"deleting {resource.kind} {resource.name}")
        try:
            self._retrying(lambda: delete(found), self.delete_budget_s, f"{resource.kind} {resource.name}")
        except Exception as exc:
            if not self.errors.is_kind(exc, NotFound):
                err = self.errors.translate(exc, f"delete {resource.kind} {resource.name}")
                if err is None:
                    raise
                with self._lock:
                    failures[resource.key] = err.message
                return
        with self._lock:
            failures.pop(resource.key, None)  # an earlier pass's reason no longer holds
        self._forget(resource.kind, resource.id_of(found))
