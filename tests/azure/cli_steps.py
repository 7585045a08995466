"""The CLI verbs the Azure tests run, each asserting it succeeded, and readers of their output."""

from __future__ import annotations

from pathlib import Path

import yaml

from provisioner import naming
from provisioner.api import templates
from tests.support.cli import CliResult, run_cli
from tests.support.specs import AZURE

AZURE_TEMPLATES = {t.name: t.text for t in templates() if t.name.startswith("azure-")}
SPECS = {"tests-spec": AZURE, **AZURE_TEMPLATES}
ACTIONS = {"create", "keep", "update", "delete", "use"}


def cluster_name(text: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("name:"))


def up(spec: Path) -> str:
    result = run_cli("up", str(spec), "--yes", "--provision-only")
    assert result.code == 0, result.text
    return result.text


def down(spec: Path) -> CliResult:
    result = run_cli("down", str(spec), "--yes")
    assert result.code == 0, result.text
    return result


def plan_actions(spec: Path, verb: str = "plan") -> dict[str, str]:
    """{"kind name": action} from the plan `rlcloud plan` prints."""
    result = run_cli(verb, str(spec))
    assert result.code == 0, result.text
    rows = [line.split() for line in result.out.splitlines() if line.startswith("  ") and line.split()[0] in ACTIONS]
    return {f"{row[1]} {row[2]}": row[0] for row in rows}


def ray_config(cluster: str) -> dict:
    return yaml.safe_load((naming.state_dir(cluster) / "ray-cluster.yaml").read_text())
