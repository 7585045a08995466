"""The dependency rules of the codebase, read from every module's imports (function-local
imports included, since a lazy import is still a dependency):

- the CLI calls the API; the API calls the backends and drivers; drivers call the compilers and
  name provisioners and backends only as lazy strings; compile/ never imports clouds/;
- runtime/ never imports provisioner/: a node needs only runtime/ and rlcloud_contract/;
- rlcloud_contract/ imports nothing of ours and nothing beyond the standard library,
  pydantic and PyYAML, so both halves can ship it;
- no `cloud == "..."` switch outside the drivers and the clouds' own packages.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.drivers import names

REPO = Path(__file__).resolve().parents[1]


def _modules(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except those under `if TYPE_CHECKING:` (annotations only, never imported)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}:
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every import `path` runs, relative ones resolved."""
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            yield node.lineno, base
            for alias in node.names:  # `from provisioner import api` depends on provisioner.api
                yield node.lineno, f"{base}.{alias.name}"


def _violations(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in _modules(folder):
        for line, name in _imports(path):
            if any(name == bad or name.startswith(bad + ".") for bad in forbidden):
                found.append(f"{path.relative_to(REPO)}:{line} imports {name}")
    return found


RULES = {
    "runtime": ("provisioner",),
    "rlcloud_contract": ("provisioner", "runtime"),
    "provisioner/compile": ("provisioner.clouds", "provisioner.backends", "provisioner.api", "provisioner.cli", "provisioner.drivers"),
    "provisioner/clouds": ("provisioner.api", "provisioner.cli", "provisioner.backends", "provisioner.drivers"),
    "provisioner/backends": ("provisioner.api", "provisioner.cli"),
    "provisioner/api": ("provisioner.cli",),
    "provisioner/spec": ("provisioner.clouds", "provisioner.compile", "provisioner.backends", "provisioner.api", "provisioner.cli"),
    # Drivers call the compilers; provisioners and backends they name as "module:attribute"
    # strings loaded on use (lazy.py), so importing the registry loads no cloud code.
    "provisioner/drivers": ("provisioner.clouds", "provisioner.backends", "provisioner.api", "provisioner.cli"),
}


@pytest.mark.parametrize("folder", RULES)
def test_dependencies_run_one_way(folder: str) -> None:
    assert _modules(folder), f"{folder} has no modules: the rule checks nothing"
    assert _violations(folder, RULES[folder]) == []


def test_the_cli_reaches_the_rest_only_through_the_api() -> None:
    allowed = {"provisioner", "provisioner.__version__", "provisioner.api", "provisioner.errors", "provisioner.progress"}
    found = [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for path in _modules("provisioner/cli")
        for line, name in _imports(path)
        if name.startswith("provisioner")
        and not name.startswith("provisioner.cli")
        and name not in allowed
        and not any(name.startswith(a + ".") for a in ("provisioner.api", "provisioner.errors", "provisioner.progress"))
    ]
    assert found == []


def test_the_contract_needs_only_the_standard_library_pydantic_and_yaml() -> None:
    allowed = set(sys.stdlib_module_names) | {"pydantic", "yaml", "rlcloud_contract", "__future__"}
    found = [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for path in _modules("rlcloud_contract")
        for line, name in _imports(path)
        if name.split(".")[0] not in allowed
    ]
    assert found == []


def _cloud_switches(path: Path) -> Iterator[str]:
    """Comparisons of something named *cloud* with a driver's name (`spec.cloud == "aws"`)."""
    clouds = set(names())
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        named_cloud = any("cloud" in ast.unparse(side) for side in sides if not isinstance(side, ast.Constant))
        constants = {side.value for side in ast.walk(node) if isinstance(side, ast.Constant) and isinstance(side.value, str)}
        if named_cloud and constants & clouds:
            yield f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)}"


def test_no_cloud_switch_outside_the_drivers() -> None:
    inside = ("provisioner/drivers", "provisioner/clouds")
    paths = [p for p in _modules("provisioner") if not str(p.relative_to(REPO)).startswith(inside)]
    assert [hit for path in paths for hit in _cloud_switches(path)] == []


def test_the_switch_finder_finds_a_switch(tmp_path: Path) -> None:
    """The check above would pass on a finder that finds nothing; this one proves it finds one."""
    sample = REPO / "tests" / "_switch_sample.py"
    sample.write_text('def f(spec):\n    return spec.cloud == "gcp"\n')
    try:
        assert len(list(_cloud_switches(sample))) == 1
    finally:
        sample.unlink()
