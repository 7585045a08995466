"""Ray Jobs commands: submit, jobs, logs, stop (on rlcloud clusters, or any cluster via --address)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from provisioner.cli.output import data, error, info, ok
from provisioner.errors import UsageError

AddressOpt = Annotated[
    str | None,
    typer.Option("--address", help="Dashboard URL of a Ray cluster rlcloud did not create (http://HOST:8265); then no SPEC."),
]
TokenFileOpt = Annotated[
    Path | None,
    typer.Option("--token-file", help="Auth token file for --address clusters (default: $RAY_AUTH_TOKEN)."),
]


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
    app.command("jobs")(jobs)
    app.command("logs")(logs)
    app.command("stop")(stop)


def _split(args: list[str], address: str | None, wanted: int) -> tuple[Path | None, list[str]]:
    """Positional args are `SPEC REST...`, or just `REST...` with --address."""
    if address is not None:
        return None, args
    if not args:
        raise UsageError("missing SPEC (or --address for a cluster rlcloud did not create)")
    rest = args[1:]
    if wanted and len(rest) != wanted:
        raise UsageError(f"expected SPEC and {wanted} more argument(s), got {len(args)}")
    return Path(args[0]), rest


def _spec_and_job(args: list[str], address: str | None) -> tuple[Path | None, str]:
    """`SPEC JOB`, or just `JOB` with --address."""
    spec, rest = _split(args, address, wanted=1 if address is None else 0)
    if len(rest) != 1:
        raise UsageError("expected one JOB id")
    return spec, rest[0]


def _parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--env {pair!r}: expected KEY=VALUE")
        env[key] = value
    return env


def submit(
    args: Annotated[list[str], typer.Argument(help="SPEC, then `--`, then the command to run on the cluster.", metavar="SPEC -- ENTRYPOINT...")],
    working_dir: Annotated[Path, typer.Option("--working-dir", help="Directory uploaded as the job's working dir (.gitignore honoured).")] = Path(
        "."
    ),
    env: Annotated[list[str], typer.Option("--env", help="KEY=VALUE environment variable for the job (repeatable).")] = [],
    exclude: Annotated[list[str], typer.Option("--exclude", help="Extra path pattern not to upload (repeatable).")] = [],
    name: Annotated[str | None, typer.Option("--name", help="Job id to use (must be new on the cluster).")] = None,
    no_follow: Annotated[bool, typer.Option("--no-follow", help="Return after submitting; print the job id.")] = False,
    address: AddressOpt = None,
    token_file: TokenFileOpt = None,
) -> None:
    """Run ENTRYPOINT as a Ray job on the cluster in SPEC and follow its logs.

    Example: rlcloud submit cluster.yaml -- python -m runtime.train --config examples/job.yaml

    The working dir is uploaded, the `runtime` package is importable, and the spec's
    checkpoint URI reaches the job as RLCLOUD_CHECKPOINT_URI. Exit code: 0 if the job
    succeeded, 1 if it failed or was stopped (with the tail of its logs), 130 on Ctrl-C,
    which asks Ray to stop the job first. Use --no-follow to leave it running.
    """
    from provisioner import api

    spec, entrypoint = _split(args, address, wanted=0)
    if entrypoint[:1] == ["--"]:
        entrypoint = entrypoint[1:]
    result = api.submit(
        spec,
        entrypoint,
        working_dir=working_dir,
        env=_parse_env(env),
        excludes=exclude,
        name=name,
        follow=not no_follow,
        address=address,
        token_file=token_file,
        notify=info,
    )
    if isinstance(result, str):
        data(result)
        info(f"follow it with: rlcloud logs {args[0] if spec else '--address ' + str(address)} {result} --follow")
        return
    if result.exit_code == 0:
        ok(f"job {result.job_id} succeeded")
        return
    # Ray's message embeds the last 20 kB of logs; its first line is the reason.
    reason = (result.message or "").strip().splitlines()[0] if result.message else ""
    error(f"job {result.job_id} {result.status}" + (f": {reason}" if reason else ""))
    if result.tail:
        info(f"--- last {len(result.tail)} lines of its logs ---")
        info("\n".join(result.tail))
    raise typer.Exit(result.exit_code)


def jobs(
    args: Annotated[list[str], typer.Argument(help="SPEC (omit with --address).", metavar="SPEC")] = [],
    address: AddressOpt = None,
    token_file: TokenFileOpt = None,
) -> None:
    """List the cluster's jobs, oldest first."""
    import time

    from provisioner import api

    spec, _ = _split(args, address, wanted=0)
    rows = api.jobs(spec, address=address, token_file=token_file)
    data(f"{'JOB':<30} {'STATUS':<10} {'STARTED':<20} {'ENTRYPOINT'}")
    for job in rows:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.start_time / 1000)) if job.start_time else "-"
        data(f"{(job.submission_id or job.job_id or '?'):<30} {str(job.status):<10} {started:<20} {job.entrypoint[:70]}")


def logs(
    args: Annotated[list[str], typer.Argument(help="SPEC JOB (just JOB with --address).", metavar="SPEC JOB")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep streaming until the job ends.")] = False,
    address: AddressOpt = None,
    token_file: TokenFileOpt = None,
) -> None:
    """Print a job's logs."""
    from provisioner import api

    spec, job_id = _spec_and_job(args, address)
    api.logs(spec, job_id, follow=follow, address=address, token_file=token_file)


def stop(
    args: Annotated[list[str], typer.Argument(help="SPEC JOB (just JOB with --address).", metavar="SPEC JOB")],
    address: AddressOpt = None,
    token_file: TokenFileOpt = None,
) -> None:
    """Ask Ray to stop a job and wait until it has stopped."""
    from provisioner import api

    spec, job_id = _spec_and_job(args, address)
    final = api.stop(spec, job_id, address=address, token_file=token_file)
    ok(f"job {job_id}: {final}")
