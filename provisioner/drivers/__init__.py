"""One registered driver per target: everything rlcloud knows about a cloud, outside clouds/.

A driver (`Driver`) carries a target's spec class, its compiler and refs model, the SDK
modules it needs, its defaults (head type, placement word, fast-networking policy, image
check) and the checkpoint URI schemes its nodes can write to. Code outside a driver asks the
registry (`driver_for(spec.cloud)`) instead of switching on the cloud's name, so adding a
target (Kubernetes, Slurm) means adding one module here, `provisioner/drivers/<name>.py`,
that defines `DRIVER`; nothing else changes.

Cheap to import: compilers, backends and SDKs are named as "module:attribute" strings and
loaded through provisioner/lazy.py only when a command uses that target.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import BaseModel, Field, TypeAdapter

from provisioner import lazy

if TYPE_CHECKING:
    from provisioner.backends.base import ClusterBackend
    from provisioner.catalog import InstanceType
    from provisioner.compile.context import CompileContext
    from provisioner.spec.checks import RuleIssue
    from provisioner.spec.models import ClusterSpecBase


@dataclass(frozen=True)
class FastNetworkingChoice:
    """What one node type's fast-networking decision depends on."""

    setting: str  # the effective setting: the group's, else the cluster's ("auto" / "on" / "off")
    group_setting: str | None  # the group's own, None for the head or when unset
    instance: InstanceType
    is_head: bool
    label: str  # "head" or "group NAME", for messages


def _never_fast(_: FastNetworkingChoice) -> bool:
    return False


def _no_image_problem(_: str) -> str | None:
    return None


def _no_rules(_: ClusterSpecBase) -> list[RuleIssue]:
    return []


@dataclass(frozen=True)
class Driver:
    """One target rlcloud runs Ray clusters on."""

    name: str  # the spec's `cloud:` word
    label: str  # how messages write it: "AWS", "GCP", "Azure", "local"
    position: int  # order in lists and messages
    spec_class: type[ClusterSpecBase]
    refs: type[BaseModel]  # what provisioning hands the compiler (provisioner/refs.py)
    compiler: str  # "module:function(spec, ctx, refs) -> Ray cluster config"
    provisioner: str | None  # "module:class" of its CloudProvisioner; None: `backend` alone
    backend: str  # "module:class" of the ClusterBackend that runs the verbs
    extra: str = ""  # the rlcloud extra that installs its SDKs
    sdk: dict[str, str] = field(default_factory=dict)  # import name -> pip package
    checkpoint_schemes: tuple[str, ...] = ()  # URI schemes its nodes can write, its own first
    creates_buckets: bool = False  # `storage.create_bucket` makes the bucket of its own scheme
    catalog: bool = False  # instance types, regions and prices come from a catalog snapshot
    default_head_type: str | None = None
    placement_word: str | None = None  # its word for "pack nodes close together"
    fast_networking_name: str = ""  # EFA, gVNIC, accelerated networking
    # Whether a node type gets it; raises ValueError saying why a requested 'on' cannot be met.
    fast_networking: Callable[[FastNetworkingChoice], bool] = _never_fast
    fast_networking_label: Callable[[InstanceType], str] | None = None  # for the catalog listing
    image_problem: Callable[[str], str | None] = _no_image_problem  # why not a boot image here
    rules: Callable[[ClusterSpecBase], list[RuleIssue]] = _no_rules  # its own cross-field rules
    same_filesystem: bool = False  # the cluster reads the submitter's files in place (no upload)

    @property
    def native_scheme(self) -> str | None:
        """The scheme of its own object storage (s3, gs, az, file)."""
        return self.checkpoint_schemes[0] if self.checkpoint_schemes else None

    def compile(self, spec: ClusterSpecBase, ctx: CompileContext, refs: BaseModel | None) -> dict[str, Any]:
        config: dict[str, Any] = lazy.load(self.compiler)(spec, ctx, refs)
        return config

    def make_backend(self) -> ClusterBackend:
        """Its backend, after checking its SDKs are installed (MissingDependencyError names the package)."""
        lazy.require(self.sdk, self.extra)
        backend_class = lazy.load(self.backend)
        if self.provisioner is None:
            backend: ClusterBackend = backend_class()
        else:
            backend = backend_class(lazy.load(self.provisioner)())
        return backend


@functools.cache
def _registry() -> dict[str, Driver]:
    found: list[Driver] = []
    for module in pkgutil.iter_modules(__path__):
        driver = getattr(importlib.import_module(f"{__name__}.{module.name}"), "DRIVER", None)
        if isinstance(driver, Driver):
            found.append(driver)
    return {driver.name: driver for driver in sorted(found, key=lambda d: d.position)}


def all_drivers() -> list[Driver]:
    """Every registered driver, in their `position` order."""
    return list(_registry().values())


def names() -> list[str]:
    return list(_registry())


def compile_cluster(spec: ClusterSpecBase, ctx: CompileContext | None = None, refs: BaseModel | None = None) -> dict[str, Any]:
    """The Ray cluster config for `spec`, by its cloud's compiler. `refs` carries ids from provisioning, if any."""
    from provisioner.compile.context import CompileContext

    return driver_for(spec.cloud).compile(spec, ctx or CompileContext.for_cluster(spec.name), refs)


@functools.cache
def spec_adapter() -> TypeAdapter[Any]:
    """The cluster spec as pydantic sees it: the union of every driver's spec class, told apart
    by `cloud` (used for the JSON Schema; loading validates the chosen class directly)."""
    classes = tuple(driver.spec_class for driver in all_drivers())
    union: Any = Union[classes]  # noqa: UP007 (a union built at run time, of however many drivers there are)
    return TypeAdapter(Annotated[union, Field(discriminator="cloud")])


def driver_for(cloud: str) -> Driver:
    """The driver of `cloud`; KeyError names the known ones."""
    try:
        return _registry()[cloud]
    except KeyError:
        raise KeyError(f"unknown cloud {cloud!r}; expected one of: {', '.join(names())}") from None
