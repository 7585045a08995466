"""Cluster lifecycle commands: up, down, status."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from provisioner.cli.output import data, info, ok, warn
from provisioner.cli.spec_commands import SpecArg


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)


def up(
    spec: SpecArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before creating cloud resources.")] = False,
    timeout: Annotated[
        float, typer.Option(help="Seconds `up` may take in all: provisioning, `ray up`, and each group reaching its min_nodes.")
    ] = 1200.0,
    provision_only: Annotated[
        bool, typer.Option("--provision-only", help="Cloud only: create the resources around Ray and write the Ray YAML, but do not run `ray up`.")
    ] = False,
    restart_ray: Annotated[
        bool,
        typer.Option("--restart-ray", help="Restart Ray on a running cluster (or replace a changed head). Running jobs stop."),
    ] = False,
) -> None:
    """Bring the cluster in SPEC up and wait until every group has its min_nodes.

    On a cloud it first shows the plan (resources, estimated $/hour) and asks; --yes skips
    the question, and with no terminal and no --yes it refuses. Idempotent: on a running
    cluster it makes no cloud change it does not need and never restarts Ray, so running
    jobs survive (a changed worker group is handed to the running autoscaler); only
    --restart-ray restarts it. A failure names the step and the log to read. `cloud: local`
    runs Ray's real autoscaler with simulated nodes on this machine.
    """
    from provisioner import api
    from provisioner.progress import Progress

    result = api.up(spec, progress=Progress.to_stream(), timeout_s=timeout, assume_yes=yes, provision_only=provision_only, restart_ray=restart_ray)
    (ok if result.changed else info)(result.message)
    if provision_only:
        return
    if result.dashboard:
        info(f"dashboard / Jobs API: {result.dashboard} (token auth: rlcloud commands send the cluster's token)")
    if result.status is not None:
        info(result.status.text())
    info(f"next: rlcloud submit {spec} -- python -m runtime.train --config examples/job.yaml")


def plan(
    spec: SpecArg,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show what `up` would create, keep or update, and the cluster's estimated $/hour at
    min and max size. Reads the cloud; changes nothing."""
    from provisioner import api

    result = api.plan(spec)
    data(json.dumps(result.model_dump(mode="json"), indent=2) if as_json else result.text())


def down(
    spec: SpecArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before deleting cloud resources.")] = False,
    purge_storage: Annotated[
        bool, typer.Option("--purge-storage", help="Also delete checkpoint data rlcloud created (asks first unless --yes).")
    ] = False,
) -> None:
    """Stop the cluster in SPEC and remove what `up` created. Checkpoints are kept.

    On a cluster that is not up this is a no-op that says so.
    """
    from provisioner import api
    from provisioner.progress import Progress

    result = api.down(spec, progress=Progress.to_stream(), assume_yes=yes, purge_storage=purge_storage)
    (ok if result.changed else info)(result.message)
    if result.left_behind:
        warn("could not remove everything; what is left and how to remove it:")
        for line in result.left_behind:
            info(f"  {line}")
        raise typer.Exit(1)


def status(
    spec: SpecArg,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show nodes by group, resources used/total, pending demand and jobs of the cluster in SPEC."""
    from provisioner import api

    result = api.status(spec)
    if as_json:
        data(json.dumps(result.model_dump(mode="json"), indent=2))
    else:
        data(result.text())
