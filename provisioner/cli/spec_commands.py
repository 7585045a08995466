"""Commands that work on spec files alone: validate, render, schema, templates, catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from provisioner.cli.output import data, info, ok, warn

SpecArg = Annotated[Path, typer.Argument(help="Cluster spec YAML file.", metavar="SPEC")]


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("render")(render)
    app.command("schema")(schema)
    app.command("templates")(templates)
    app.command("catalog")(catalog)


def validate(spec: SpecArg) -> None:
    """Check SPEC and show what it resolves to (types, GPUs, spot, EFA/gVNIC, placement).

    Exit 0 when valid, 2 with FILE:LINE field.path: message for each problem.
    Needs no cloud access.
    """
    from provisioner import api

    report = api.validate(spec)
    for line in report.warnings:
        warn(line)
    ok(f"{spec}: valid {report.spec.cloud} cluster {report.spec.name!r}")
    for line in report.summary_lines():
        info(line)


def render(
    spec: SpecArg,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the YAML here instead of stdout.")] = None,
) -> None:
    """Print the Ray autoscaler cluster YAML that SPEC compiles to.

    The config passes Ray's own validation. Resource ids that only exist after
    `rlcloud up` (security group, subnet, AMI) show as {{rlcloud:...}} until then.
    """
    from provisioner import api

    result = api.render(spec)
    text = result.to_yaml(str(spec))
    if output is None:
        data(text)
    else:
        output.write_text(text)
        ok(f"wrote {output}")
    if result.pending:
        info(f"{len(result.pending)} value(s) are filled in by `rlcloud up` (marked {{{{rlcloud:...}}}})")


def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the schema here instead of stdout.")] = None,
) -> None:
    """Print the JSON Schema of spec files, for editor completion and validation.

    VS Code (YAML extension): add `# yaml-language-server: $schema=rlcloud.schema.json`
    at the top of a spec after `rlcloud schema -o rlcloud.schema.json`.
    """
    from provisioner import api

    text = api.json_schema_text()
    if output is None:
        data(text)
    else:
        output.write_text(text + "\n")
        ok(f"wrote {output}")


def templates(
    name: Annotated[str | None, typer.Argument(help="Print this template (e.g. aws-multi-node).")] = None,
) -> None:
    """List the preset cluster specs, or print one to start from.

    Example: rlcloud templates aws-multi-node > my-cluster.yaml
    """
    from provisioner import api

    if name is not None:
        data(api.template(name).text)
        return
    for t in api.templates():
        data(f"{t.name:<24} {t.cloud:<6} {t.description[:100]}")


def catalog(
    cloud: Annotated[str, typer.Argument(help="aws, gcp or azure.")],
    gpu: Annotated[str | None, typer.Option(help="Only types with this GPU model, e.g. H100.")] = None,
) -> None:
    """List the instance types rlcloud knows for CLOUD: vCPUs, memory, GPUs, fast networking, $/h."""
    from provisioner import api

    rows = api.catalog(cloud, gpu)
    data(f"{'TYPE':<28} {'vCPU':>5} {'MEM GB':>7} {'GPUS':<14} {'FAST NET':<9} {'$/H':>8}")
    for row in rows:
        t, fast = row.type, row.fast_networking
        gpus = f"{t.gpu_count}x {t.gpu_model}" if t.gpu_count else "-"
        price = f"{t.price_per_hour:.2f}" if t.price_per_hour is not None else "?"
        data(f"{t.name:<28} {t.vcpus:>5} {t.memory_gb:>7g} {gpus:<14} {fast:<9} {price:>8}")
