"""The spec commands as a user runs them: validate, render, schema, templates, catalog, --help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

from provisioner.api import templates
from tests.support.cli import run_cli
from tests.support.specs import AWS


def test_validate_prints_what_the_spec_resolves_to(tmp_path: Path) -> None:
    spec = tmp_path / "aws.yaml"
    spec.write_text(AWS)
    result = run_cli("validate", str(spec))
    assert result.code == 0, result.text
    assert "valid aws cluster 't-aws'" in result.err
    assert "p5.48xlarge" in result.err and "fast-net" in result.err and "spot" in result.err


def test_validate_prints_warnings(tmp_path: Path) -> None:
    spec = tmp_path / "aws.yaml"
    spec.write_text(AWS.replace("[203.0.113.0/24]", "[0.0.0.0/0]\n  allow_public_ssh: true"))
    result = run_cli("validate", str(spec))
    assert result.code == 0 and "warning:" in result.err and "0.0.0.0/0" in result.err


def test_render_to_stdout_and_file(tmp_path: Path) -> None:
    spec = tmp_path / "aws.yaml"
    spec.write_text(AWS)
    result = run_cli("render", str(spec))
    assert result.code == 0
    config = yaml.safe_load(result.out)
    assert config["provider"]["type"] == "aws"
    assert "filled in by `rlcloud up`" in result.err
    out = tmp_path / "ray.yaml"
    assert run_cli("render", str(spec), "-o", str(out)).code == 0
    assert yaml.safe_load(out.read_text()) == config


def test_schema_accepts_templates_and_rejects_typos(tmp_path: Path) -> None:
    result = run_cli("schema")
    schema = json.loads(result.out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for t in templates():
        data = yaml.safe_load(t.text)
        errors = list(validator.iter_errors(data))
        assert not errors, (t.name, [e.message for e in errors])
    typo = yaml.safe_load(AWS)
    typo["node_groups"]["sampler"]["max_node"] = 3
    assert list(validator.iter_errors(typo))
    # Every property in the schema is described (the descriptions are the docs).
    undocumented = []
    for name, definition in schema.get("$defs", {}).items():
        for prop, body in definition.get("properties", {}).items():
            if "description" not in body:
                undocumented.append(f"{name}.{prop}")
    assert undocumented == []
    out = tmp_path / "schema.json"
    assert run_cli("schema", "-o", str(out)).code == 0 and json.loads(out.read_text()) == schema


def test_templates_list_and_print() -> None:
    listing = run_cli("templates")
    assert listing.code == 0
    names = [line.split()[0] for line in listing.out.splitlines()]
    assert {"aws-multi-node", "gcp-single-node-8gpu", "azure-multi-node", "local"} <= set(names)
    shown = run_cli("templates", "aws-multi-node")
    assert yaml.safe_load(shown.out)["cloud"] == "aws"
    missing = run_cli("templates", "nope")
    assert missing.code == 2 and "known:" in missing.err


def test_catalog_lists_types_with_prices() -> None:
    result = run_cli("catalog", "aws", "--gpu", "H100")
    assert result.code == 0
    rows = result.out.splitlines()[1:]
    assert rows and all("H100" in row for row in rows)
    assert any(row.startswith("p5.48xlarge") and "EFA" in row for row in rows)
    assert run_cli("catalog", "moon").code == 2


def test_help_and_version() -> None:
    result = run_cli("--help")
    assert result.code == 0
    for command in ("validate", "render", "schema", "templates", "catalog"):
        assert command in result.out
    assert run_cli("--version").out.startswith("rlcloud ")


def test_help_imports_no_heavy_module() -> None:
    """`rlcloud --help` must not import Ray, torch, a cloud SDK (or even pydantic / yaml)."""
    probe = (
        "import sys, io, contextlib\n"
        "from provisioner.cli.app import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: main(['--help'])\n"
        "    except SystemExit: pass\n"
        "heavy = ('ray', 'torch', 'boto3', 'botocore', 'google', 'azure', 'pydantic', 'yaml')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("rlcloud")
    done = subprocess.run([str(exe), "templates"], capture_output=True, text=True)
    assert done.returncode == 0 and "aws-multi-node" in done.stdout
