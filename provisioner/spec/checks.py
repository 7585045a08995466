"""Cross-field rules of a cluster spec (the ones a JSON Schema cannot say) and soft warnings.

`check_spec` returns every problem it can find with its field path, so a user fixes them in
one pass rather than one per run. It runs from the spec model's after-validator.
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.catalog import get_catalog
from provisioner.drivers import all_drivers, driver_for
from provisioner.spec.models import CloudClusterSpec, ClusterSpecBase
from provisioner.spec.resolve import ResolutionError, resolve_instance, resolve_nodes

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
    if not isinstance(spec, CloudClusterSpec):
        return []
    catalog = get_catalog(spec.cloud)
    region = spec.region
    zone = spec.zone
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


def scheme_problem(scheme: str, cloud: str) -> str | None:
    """Why nodes on `cloud` cannot write checkpoints to `scheme`:// (None when they can)."""
    driver = driver_for(cloud)
    if scheme in driver.checkpoint_schemes:
        return None
    usable = " or ".join(f"{name}://" for name in driver.checkpoint_schemes)
    home = next((other for other in all_drivers() if other.native_scheme == scheme), None)
    if home is None:
        return f"{scheme}:// is not a checkpoint scheme; on {cloud} use {usable}"
    if not home.catalog:
        return f"{scheme}:// is only for the {home.label} cluster; nodes on {cloud} need {usable}"
    return f"{scheme}:// is for {home.label} clusters; on {cloud} use {usable}"


def _storage_issues(spec: ClusterSpecBase) -> list[RuleIssue]:
    storage = spec.storage
    scheme = storage.scheme
    driver = driver_for(spec.cloud)
    issues: list[RuleIssue] = []
    problem = scheme_problem(scheme, spec.cloud) if scheme else None
    if problem:
        issues.append(RuleIssue(("storage", "checkpoint_uri"), problem))
    if storage.create_bucket:
        native = driver.native_scheme
        if not driver.creates_buckets:
            makers = ", ".join(f"{d.name} ({d.native_scheme}://)" for d in all_drivers() if d.creates_buckets)
            issues.append(RuleIssue(("storage", "create_bucket"), f"rlcloud can create buckets on {makers}, not on {spec.cloud}"))
        elif scheme != native:
            issues.append(RuleIssue(("storage", "create_bucket"), f"create_bucket on {spec.cloud} needs a {native}:// checkpoint_uri"))
    return issues


def _node_issues(spec: ClusterSpecBase) -> list[RuleIssue]:
    """Resolve each node type on its own so one bad group does not hide another's problem."""
    if not driver_for(spec.cloud).catalog:
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
    driver = driver_for(spec.cloud)
    if not driver.catalog:
        return []
    issues = []
    for group, node in spec.group_items():
        problem = driver.image_problem(node.image) if node.image else None
        if problem:
            path = ("head", "image") if group == "head" else ("node_groups", group, "image")
            issues.append(RuleIssue(path, f"{node.image!r}: {problem}"))
    return issues


def check_spec(spec: ClusterSpecBase) -> list[RuleIssue]:
    """Every cross-field problem of `spec` (empty when it is valid)."""
    issues = _location_issues(spec) + _storage_issues(spec) + driver_for(spec.cloud).rules(spec) + _image_issues(spec)
    issues += _node_issues(spec)
    total_max = sum(g.max_nodes for g in spec.node_groups.values())
    if total_max > 2000:
        issues.append(RuleIssue(("node_groups",), f"{total_max} worker nodes at most in total; rlcloud supports up to 2000"))
    return issues


def spec_warnings(spec: ClusterSpecBase) -> list[str]:
    """Things that are allowed but probably not what the user wants."""
    warnings: list[str] = []
    if isinstance(spec, CloudClusterSpec):
        network = spec.network
        if network.public_ssh:
            warnings.append("network.ssh_cidrs allows SSH from 0.0.0.0/0 (the whole internet)")
        nodes = resolve_nodes(spec)
        if network.placement != "none" and not any(n.placement for n in nodes):
            warnings.append(f"network.placement is {network.placement!r} but no node group joins it (no GPU groups)")
        zone = spec.zone
        for node in nodes:
            inst = node.instance
            if inst is not None and inst.zones and zone and zone not in inst.zones:
                where = "head" if node.is_head else f"node_groups.{node.group}"
                warnings.append(
                    f"{where}: {inst.name} is not offered in {zone} according to the catalog snapshot "
                    f"(offered in: {', '.join(z for z in inst.zones if z.startswith(spec.region)) or 'no zone of ' + spec.region})"
                )
    return warnings
