"""Spec-level operations: validate, render, schema, templates, catalog. No cloud access."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioner.errors import UsageError
from provisioner.spec import ClusterSpecBase, load_spec

if TYPE_CHECKING:
    from provisioner.catalog import InstanceType


@dataclass
class ValidationReport:
    """A valid spec, what it resolves to, and soft warnings."""

    spec: ClusterSpecBase
    warnings: list[str] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        from provisioner.spec.resolve import resolve_nodes

        lines = []
        for node in resolve_nodes(self.spec):
            what = (
                node.instance.describe()
                if node.instance
                else f"{node.cpus} CPU" + (f", {node.gpus}x {node.gpu_model} (simulated)" if node.gpus else "")
            )
            scale = "head" if node.is_head else f"{node.min_nodes}..{node.max_nodes} nodes"
            extras = [x for x, on in (("spot", node.spot), ("fast-net", node.fast_networking), ("placement", node.placement)) if on]
            lines.append(f"  {node.group:<10} {scale:<13} {what}{'  [' + ', '.join(extras) + ']' if extras else ''}")
        return lines


def validate(spec_path: str | Path) -> ValidationReport:
    """Load and validate a spec file (SpecError on any problem)."""
    from provisioner.spec.checks import spec_warnings

    spec = load_spec(spec_path)
    return ValidationReport(spec=spec, warnings=spec_warnings(spec))


@dataclass
class RenderResult:
    spec: ClusterSpecBase
    config: dict[str, Any]
    pending: list[str]

    def to_yaml(self, source: str) -> str:
        import yaml

        header = [f"# Ray cluster config rendered by rlcloud from {source}."]
        if self.pending:
            header.append("# Values written {{rlcloud:...}} are created by `rlcloud up`, which writes the")
            header.append("# deployable config to the cluster's state directory.")
        return "\n".join(header) + "\n" + yaml.safe_dump(self.config, sort_keys=False, width=100)


def render(spec_path: str | Path, *, validate_with_ray: bool = True) -> RenderResult:
    """Compile a spec to its Ray cluster config, with provisioned ids when `up` has run."""
    from provisioner.compile import find_pending
    from provisioner.compile.context import CompileContext
    from provisioner.drivers import compile_cluster

    spec = load_spec(spec_path)
    refs = _saved_refs(spec)
    config = compile_cluster(spec, CompileContext.for_cluster(spec.name), refs)
    if validate_with_ray:
        from provisioner.ray_validate import validate_ray_config

        validate_ray_config(config)
    return RenderResult(spec=spec, config=config, pending=find_pending(config))


def _saved_refs(spec: ClusterSpecBase) -> Any:
    """Ids recorded by an earlier `up` of this cluster, if any."""
    try:
        from provisioner.state import load_refs
    except ImportError:  # provisioning state arrives with the cloud provisioners
        return None
    return load_refs(spec)


def json_schema() -> dict[str, Any]:
    """JSON Schema of a spec file: one branch per cloud, selected by `cloud`."""
    from provisioner.drivers import spec_adapter

    schema = spec_adapter().json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "rlcloud cluster spec",
        "description": "One YAML file per cluster; `cloud` selects the branch.",
        **schema,
    }


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2)


@dataclass(frozen=True)
class Template:
    name: str
    cloud: str
    description: str
    text: str


def templates() -> list[Template]:
    """The preset specs in cluster_templates/, sorted by name."""
    import yaml

    found = []
    for entry in sorted(resources.files("cluster_templates").iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".yaml"):
            continue
        text = entry.read_text()
        comments = []
        for line in text.splitlines():
            if not line.startswith("#"):
                break
            comments.append(line.lstrip("# ").strip())
        data = yaml.safe_load(text) or {}
        found.append(Template(name=entry.name[: -len(".yaml")], cloud=str(data.get("cloud", "?")), description=" ".join(comments), text=text))
    return found


def template(name: str) -> Template:
    by_name = {t.name: t for t in templates()}
    key = name[: -len(".yaml")] if name.endswith(".yaml") else name
    if key not in by_name:
        raise UsageError(f"no template named {name!r}", hint=f"known: {', '.join(by_name)}")
    return by_name[key]


def template_path(name: str) -> Path:
    """Filesystem path of a template (templates ship inside the package)."""
    t = template(name)
    return Path(str(resources.files("cluster_templates").joinpath(f"{t.name}.yaml")))


@dataclass(frozen=True)
class CatalogRow:
    """One instance type as `rlcloud catalog` lists it."""

    type: InstanceType
    fast_networking: str  # what its driver calls the fast networking it gets: EFA, gVNIC, ...


def catalog(cloud: str, gpu: str | None = None) -> list[CatalogRow]:
    """The instance types rlcloud knows for `cloud`, GPU types grouped; only `gpu`'s model if given."""
    from provisioner.catalog import canonical_gpu, get_catalog
    from provisioner.drivers import all_drivers

    with_catalog = {d.name: d for d in all_drivers() if d.catalog}
    driver = with_catalog.get(cloud)
    if driver is None:
        raise UsageError(f"unknown cloud {cloud!r}", hint=f"one of: {', '.join(with_catalog)}")
    label = driver.fast_networking_label or (lambda _: "-")
    types = sorted(get_catalog(cloud).types.values(), key=lambda t: (t.gpu_model or "", t.gpu_count, t.name))
    if gpu:
        types = [t for t in types if t.gpu_model == canonical_gpu(gpu)]
    return [CatalogRow(type=t, fast_networking=label(t)) for t in types]
