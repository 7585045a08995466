"""The shared reconciler's own rules, on a small in-memory cloud with an SDK-like error type.

The cloud tests (tests/aws, tests/gcp, tests/azure, tests/cloudbox) run the engine against
each cloud's API fakes; these pin the engine's decisions where they are easiest to see:
plan == apply, zero writes on a second `up`, ownership, retries, dependency order on
`down`, containers, leftovers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from provisioner.clouds.base import ProvisionContext
from provisioner.clouds.errors import Classified, ErrorMapping, InUse, NotFound, NotYetConsistent
from provisioner.clouds.reconcile import Reconciler, Resource, key_of
from provisioner.errors import CloudError
from provisioner.progress import Progress
from provisioner.spec.load import load_spec_text
from provisioner.state import ClusterState, load_state


class SdkError(Exception):
    """What a cloud SDK raises: a code and a message."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


KINDS = {"NotFound": NotFound, "InUse": InUse, "Replicating": NotYetConsistent}
MAPPING = ErrorMapping(
    cloud="Toy",
    sdk_errors=lambda: (SdkError,),
    classify=lambda exc: Classified(KINDS.get(exc.code), exc.code, str(exc)),  # type: ignore[attr-defined]
)


@dataclass
class ToyCloud:
    """Resources by name; every call is logged; `busy` makes a delete answer InUse N times."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    busy: dict[str, int] = field(default_factory=dict)
    replicating: dict[str, int] = field(default_factory=dict)

    def get(self, name: str) -> dict[str, Any] | None:
        self.calls.append(f"get {name}")
        return dict(self.items[name]) if name in self.items else None

    def put(self, name: str, **body: Any) -> dict[str, Any]:
        self.calls.append(f"put {name}")
        if self.replicating.get(name):
            self.replicating[name] -= 1
            raise SdkError("Replicating", f"{name}: principal not visible yet")
        self.items[name] = {"name": name, **body}
        return dict(self.items[name])

    def delete(self, name: str) -> None:
        self.calls.append(f"delete {name}")
        if self.busy.get(name):
            self.busy[name] -= 1
            raise SdkError("InUse", f"{name} is in use")
        if name not in self.items:
            raise SdkError("NotFound", f"{name} not found")
        del self.items[name]

    def writes(self) -> list[str]:
        return [c for c in self.calls if not c.startswith("get ")]


def declare(cloud: ToyCloud, size: int = 1) -> list[Resource[dict[str, Any]]]:
    """A network, a firewall in it, and a VM-like thing that needs both."""

    def resource(name: str, depends_on: tuple[str, ...] = (), **body: Any) -> Resource[dict[str, Any]]:
        return Resource(
            kind="thing",
            name=name,
            read=lambda: cloud.get(name),
            create=lambda: cloud.put(name, owner="us", **body),
            delete=lambda _: cloud.delete(name),
            drift=lambda found: None if all(found.get(k) == v for k, v in body.items()) else f"size -> {body.get('size')}",
            owned=lambda found: found.get("owner") == "us",
            depends_on=depends_on,
            delete_command=f"toy delete {name}",
        )

    return [
        resource("net"),
        resource("fw", depends_on=(key_of("thing", "net"),)),
        resource("box", depends_on=(key_of("thing", "net"), key_of("thing", "fw")), size=size),
    ]


@pytest.fixture
def ctx() -> ProvisionContext:
    spec = load_spec_text("name: toy\ncloud: local\n")
    return ProvisionContext(spec=spec, state=ClusterState(name="toy", cloud="local"), progress=Progress.silent())


def run_up(ctx: ProvisionContext, resources: list[Resource[dict[str, Any]]], apply: bool) -> Reconciler:
    engine = Reconciler(ctx=ctx, errors=MAPPING, apply=apply, write_budget_s=5, delete_budget_s=5)
    for resource in resources:
        engine.ensure(resource)
    return engine


def test_plan_makes_no_writes_and_names_what_up_then_does(ctx: ProvisionContext) -> None:
    cloud = ToyCloud()
    plan = run_up(ctx, declare(cloud), apply=False).planned
    assert cloud.writes() == [] and ctx.state.resources == []
    applied = run_up(ctx, declare(cloud), apply=True).planned
    assert [(p.name, p.action) for p in plan] == [(p.name, p.action) for p in applied] == [("net", "create"), ("fw", "create"), ("box", "create")]
    assert sorted(cloud.items) == ["box", "fw", "net"]
    assert [r.id for r in load_state("toy").resources] == ["net", "fw", "box"]  # saved as each one was made


def test_a_second_up_only_reads_and_drift_is_updated(ctx: ProvisionContext) -> None:
    cloud = ToyCloud()
    run_up(ctx, declare(cloud), apply=True)
    cloud.calls.clear()
    again = run_up(ctx, declare(cloud), apply=True)
    assert cloud.writes() == [] and {p.action for p in again.planned} == {"keep"}
    changed = run_up(ctx, declare(cloud, size=2), apply=True)
    assert [(p.name, p.action, p.detail) for p in changed.planned if p.action != "keep"] == [("box", "update", "size -> 2")]
    assert cloud.items["box"]["size"] == 2


def test_a_same_named_resource_that_is_not_ours_stops_up_and_is_left_alone(ctx: ProvisionContext) -> None:
    cloud = ToyCloud(items={"fw": {"name": "fw", "owner": "someone"}})
    with pytest.raises(CloudError, match="thing fw already exists but was not created by rlcloud"):
        run_up(ctx, declare(cloud), apply=True)
    assert cloud.items["fw"]["owner"] == "someone" and "box" not in cloud.items
    assert [r.id for r in ctx.state.resources] == ["net"]  # what was made before the refusal is recorded


def test_a_write_the_cloud_is_not_ready_for_is_retried(ctx: ProvisionContext) -> None:
    cloud = ToyCloud(replicating={"fw": 2})
    run_up(ctx, declare(cloud), apply=True)
    assert cloud.calls.count("put fw") == 3 and "fw" in cloud.items


def test_down_deletes_dependents_first_waits_out_in_use_and_forgets_each(ctx: ProvisionContext) -> None:
    cloud = ToyCloud()
    run_up(ctx, declare(cloud), apply=True)
    cloud.calls.clear()
    cloud.busy = {"net": 1}
    engine = Reconciler(ctx=ctx, errors=MAPPING, apply=True, write_budget_s=5, delete_budget_s=5)
    assert [(p.name, p.action) for p in engine.plan_down(lambda: declare(cloud))] == [("net", "delete"), ("fw", "delete"), ("box", "delete")]
    assert cloud.writes() == []
    left = engine.down(lambda: declare(cloud))
    assert left == [] and cloud.items == {}
    deletes = [c for c in cloud.calls if c.startswith("delete")]
    assert deletes == ["delete box", "delete fw", "delete net", "delete net"]  # net: in use once, then gone
    assert load_state("toy").resources == []


def test_planning_down_changes_no_state_and_down_forgets_what_is_gone(ctx: ProvisionContext) -> None:
    cloud = ToyCloud()
    run_up(ctx, declare(cloud), apply=True)
    del cloud.items["fw"]  # deleted by hand since
    engine = Reconciler(ctx=ctx, errors=MAPPING, apply=True, delete_budget_s=5)
    assert [p.name for p in engine.plan_down(lambda: declare(cloud))] == ["net", "box"]
    assert [r.id for r in load_state("toy").resources] == ["net", "fw", "box"]  # the plan wrote nothing
    assert engine.down(lambda: declare(cloud)) == [] and load_state("toy").resources == []


def test_what_cannot_be_deleted_is_reported_with_its_command(ctx: ProvisionContext) -> None:
    cloud = ToyCloud()
    run_up(ctx, declare(cloud), apply=True)
    cloud.busy = {"net": 1000}
    engine = Reconciler(ctx=ctx, errors=MAPPING, apply=True, delete_budget_s=0.2)
    left = engine.down(lambda: declare(cloud), passes=1)
    assert [str(x) for x in left] == ["thing net: delete thing net: Toy said InUse: net is in use; delete with: toy delete net"]
    assert [r.id for r in ctx.state.resources] == ["net"]  # still recorded: the next `down` tries again


def test_what_a_resource_left_behind_needs_is_kept_and_a_later_pass_takes_both(ctx: ProvisionContext) -> None:
    cloud = ToyCloud()
    run_up(ctx, declare(cloud), apply=True)
    cloud.calls.clear()
    cloud.busy = {"box": 1000}
    engine = Reconciler(ctx=ctx, errors=MAPPING, apply=True, delete_budget_s=0.2)
    left = {x.name: x.reason for x in engine.down(lambda: declare(cloud), passes=1)}
    # fw and net are not even tried: box still uses them, so deleting them could only wait out "in use".
    assert {c for c in cloud.calls if c.startswith("delete")} == {"delete box"}
    assert left["box"].startswith("delete thing box: Toy said InUse")
    assert left["fw"] == left["net"] == "kept: thing box, which needs it, is still there"
    cloud.busy = {}
    assert engine.down(lambda: declare(cloud), passes=1) == [] and cloud.items == {}


def test_what_is_inside_a_container_that_is_left_is_not_listed_apart(ctx: ProvisionContext) -> None:
    cloud = ToyCloud(items={"group": {"name": "group", "owner": "us"}, "vm": {"name": "vm", "owner": "us"}}, busy={"group": 1000})
    survey = lambda: [  # noqa: E731
        Resource(kind="group", name="group", read=lambda: cloud.get("group"), delete=lambda _: cloud.delete("group"), delete_command="toy rm group"),
        Resource(kind="vm", name="vm", read=lambda: cloud.get("vm"), delete=lambda _: cloud.delete("vm"), inside=key_of("group", "group")),
    ]
    left = Reconciler(ctx=ctx, errors=MAPPING, apply=True, delete_budget_s=0.2).down(survey, passes=1)
    assert [x.name for x in left] == ["group"]  # deleting the group (its command) takes the vm too


def test_what_is_inside_a_container_goes_with_it(ctx: ProvisionContext) -> None:
    cloud = ToyCloud(items={"group": {"name": "group", "owner": "us"}, "vm": {"name": "vm", "owner": "us"}})

    def survey() -> list[Resource[dict[str, Any]]]:
        def drop_group(_: Any) -> None:
            cloud.delete("group")
            cloud.items.pop("vm", None)  # the cloud deletes the group's contents with it

        return [
            Resource(kind="group", name="group", read=lambda: cloud.get("group"), delete=drop_group),
            Resource(kind="vm", name="vm", read=lambda: cloud.get("vm"), delete=lambda _: cloud.delete("vm"), inside=key_of("group", "group")),
        ]

    engine = Reconciler(ctx=ctx, errors=MAPPING, apply=True)
    assert [(p.name, p.detail) for p in engine.plan_down(survey)] == [("group", ""), ("vm", "with group")]
    assert engine.down(survey) == [] and cloud.items == {}
    assert "delete vm" not in cloud.calls


def test_an_error_that_is_not_the_clouds_is_not_disguised(ctx: ProvisionContext) -> None:
    def broken() -> dict[str, Any]:
        raise KeyError("a bug of ours")

    with pytest.raises(KeyError):
        run_up(ctx, [Resource(kind="thing", name="x", read=broken, create=broken)], apply=True)
