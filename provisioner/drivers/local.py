"""local: this machine, with the real Ray autoscaler starting simulated worker nodes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from provisioner.drivers import Driver
from provisioner.refs import LocalRefs
from provisioner.spec.models import LocalClusterSpec

if TYPE_CHECKING:
    from provisioner.spec.checks import RuleIssue
    from provisioner.spec.models import ClusterSpecBase


def _rules(spec: ClusterSpecBase) -> list[RuleIssue]:
    """The local cluster runs the Ray installed here, directly (no image, no container)."""
    from importlib.metadata import PackageNotFoundError, version

    from provisioner.spec.checks import RuleIssue

    try:
        installed = version("ray")
    except PackageNotFoundError:
        return []
    if spec.ray.version != installed:
        return [RuleIssue(("ray", "version"), f"the local cluster runs the Ray installed here ({installed}); set version: {installed} or remove it")]
    if spec.ray.docker is not None:
        return [RuleIssue(("ray", "docker"), "the local cluster runs Ray processes directly; remove `docker`")]
    return []


DRIVER = Driver(
    name="local",
    label="local",
    position=3,
    spec_class=LocalClusterSpec,
    refs=LocalRefs,
    compiler="provisioner.compile.local:compile_local",
    provisioner=None,
    backend="provisioner.backends.local:LocalBackend",
    checkpoint_schemes=("file", "s3"),
    rules=_rules,
    same_filesystem=True,
)
