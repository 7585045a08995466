"""Cross-field rules of a cluster spec (the ones a JSON Schema cannot say) and soft warnings.

`check_spec` returns every problem it can find with its field path, so a user fixes them in
one pass rather than one per run. It runs from the spec model's after-validator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from provisioner.catalog import get_catalog
from provisioner.spec.resolve import ResolutionError, resolve_instance, resolve_nodes
from provisioner.storage_uri import native_scheme, placement_issue

if TYPE_CHECKING:
    from provisioner.spec.models import ClusterSpecBase

PathT = tuple[str | int, ...]


@dataclass(frozen=True)
class RuleIssue:
    path: PathT
    message: str


class SpecRuleViolations(Exception):
    """Raised out of pydantic validation (it is not a ValueError, so pydantic lets it through)
    to carry issues with exact field paths; the loader turns it into a SpecError."""

    def __init__(self, issues: list[RuleIssue]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, i.path))}: {i.message}" for i in issues))
        self.issues = issues


def _location_issues(spec: ClusterSpecBase) -> list[RuleIssue]:
    if spec.cloud == "local":
        return []
    catalog = get_catalog(spec.cloud)  # type: ignore[arg-type]
    region = spec.region  # type: ignore[attr-defined]
    zone = spec.zone  # type: ignore[attr-defined]
    if region not in catalog.regions:
        import difflib

        close = difflib.get_close_matches(region, list(catalog.regions), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(catalog.regions))}"
        return [RuleIssue(("region",), f"unknown {spec.cloud} region {region!r}{hint}")]
    zones = catalog.regions[region]
    if zone is None:
        return []
    if zone not in zones:
        if not zones:
            return [RuleIssue(("zone",), f"{region} has no availability zones; remove `zone`")]
        return [RuleIssue(("zone",), f"{zone!r} is not a zone of {region}; zones there: {', '.join(zones)}")]
    return []


#: Clouds whose provisioner can create the checkpoint bucket (of the cloud's own scheme).
CREATES_BUCKETS = ("aws", "gcp", "azure")


def _storage_issues(spec: ClusterSpecBase) -> list[RuleIssue]:
    storage = spec.storage
    scheme = storage.scheme
    issues: list[RuleIssue] = []
    problem = placement_issue(scheme, spec.cloud) if scheme else None
    if problem:
        issues.append(RuleIssue(("storage", "checkpoint_uri"), problem))
    if spec.cloud == "azure" and scheme == "az" and not spec.node_groups:
        # Only worker VMs get the identity that may write to the container (the head's holds
        # the autoscaler role and no storage), and a head-only cluster runs its learner on the head.
        issues.append(
            RuleIssue(
                ("storage", "checkpoint_uri"),
                "az:// checkpoints are written by worker nodes (the head's identity has no storage access); "
                "add node_groups, or checkpoint to s3:// on a head-only cluster",
            )
        )
    if storage.create_bucket:
        native = native_scheme(spec.cloud)
        if spec.cloud not in CREATES_BUCKETS:
            makers = ", ".join(f"{cloud} ({native_scheme(cloud)}://)" for cloud in CREATES_BUCKETS)
            issues.append(RuleIssue(("storage", "create_bucket"), f"rlcloud can create buckets on {makers}, not on {spec.cloud}"))
        elif scheme != native:
            issues.append(RuleIssue(("storage", "create_bucket"), f"create_bucket on {spec.cloud} needs a {native}:// checkpoint_uri"))
    return issues


def _ray_issues(spec: ClusterSpecBase) -> list[RuleIssue]:
    if spec.cloud != "local":
        return []
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("ray")
    except PackageNotFoundError:
        return []
    if spec.ray.version != installed:
        return [
            RuleIssue(
                ("ray", "version"),
                f"the local cluster runs the Ray installed here ({installed}); set version: {installed} or remove it",
            )
        ]
    if spec.ray.docker is not None:
        return [RuleIssue(("ray", "docker"), "the local cluster runs Ray processes directly; remove `docker`")]
    return []


def _node_issues(spec: ClusterSpecBase) -> list[RuleIssue]:
    """Resolve each node type on its own so one bad group does not hide another's problem."""
    if spec.cloud == "local":
        return []
    issues: list[RuleIssue] = []
    bad_groups: set[str] = set()
    for group, node in spec.group_items():
        path = ("head",) if group == "head" else ("node_groups", group)
        try:
            resolve_instance(spec.cloud, node, path, is_head=group == "head")
        except ResolutionError as exc:
            issues.append(RuleIssue(exc.path, exc.message))
            bad_groups.add(group)
    if bad_groups:
        return issues
    try:
        resolve_nodes(spec)
    except ResolutionError as exc:
        issues.append(RuleIssue(exc.path, exc.message))
    return issues


def _image_issues(spec: ClusterSpecBase) -> list[RuleIssue]:
    if spec.cloud == "local":
        return []
    from provisioner.images import image_problem

    issues = []
    for group, node in spec.group_items():
        problem = image_problem(spec.cloud, node.image) if node.image else None
        if problem:
            path = ("head", "image") if group == "head" else ("node_groups", group, "image")
            issues.append(RuleIssue(path, f"{node.image!r}: {problem}"))
    return issues


def check_spec(spec: ClusterSpecBase) -> list[RuleIssue]:
    """Every cross-field problem of `spec` (empty when it is valid)."""
    issues = _location_issues(spec) + _storage_issues(spec) + _ray_issues(spec) + _image_issues(spec)
    issues += _node_issues(spec)
    total_max = sum(g.max_nodes for g in spec.node_groups.values())
    if total_max > 2000:
        issues.append(RuleIssue(("node_groups",), f"{total_max} worker nodes at most in total; rlcloud supports up to 2000"))
    return issues


def spec_warnings(spec: ClusterSpecBase) -> list[str]:
    """Things that are allowed but probably not what the user wants."""
    warnings: list[str] = []
    if spec.cloud != "local":
        network = spec.network  # type: ignore[attr-defined]
        if network.public_ssh:
            warnings.append("network.ssh_cidrs allows SSH from 0.0.0.0/0 (the whole internet)")
        nodes = resolve_nodes(spec)
        if network.placement != "none" and not any(n.placement for n in nodes):
            warnings.append(f"network.placement is {network.placement!r} but no node group joins it (no GPU groups)")
        zone = spec.zone  # type: ignore[attr-defined]
        for node in nodes:
            inst = node.instance
            if inst is not None and inst.zones and zone and zone not in inst.zones:
                where = "head" if node.is_head else f"node_groups.{node.group}"
                warnings.append(
                    f"{where}: {inst.name} is not offered in {zone} according to the catalog snapshot "
                    f"(offered in: {', '.join(z for z in inst.zones if z.startswith(spec.region)) or 'no zone of ' + spec.region})"  # type: ignore[attr-defined]
                )
    return warnings
