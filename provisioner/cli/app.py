"""The `rlcloud` application: registers every command and maps errors to exit codes.

Import cost matters here (`rlcloud --help` must stay far cheaper than `ray --help`), so this
module and the command modules import only typer; each command imports what it needs.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from provisioner import __version__
from provisioner.cli import cluster_commands, job_commands, spec_commands

app = typer.Typer(
    name="rlcloud",
    help=(
        "Typed cluster specs to Ray clusters on AWS, GCP, Azure or this machine, "
        "and the RL learner/sampler jobs that run on them.\n\n"
        "Start with `rlcloud templates` and `rlcloud validate SPEC`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rlcloud {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool | None, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
) -> None:
    pass


spec_commands.register(app)
cluster_commands.register(app)
job_commands.register(app)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, turning rlcloud errors into exit codes."""
    from provisioner.errors import RlcloudError

    try:
        app(args=argv, prog_name="rlcloud")
    except RlcloudError as exc:
        from provisioner.cli.output import error

        error(str(exc)) if exc.exit_code != 2 or not _is_spec_error(exc) else typer.echo(str(exc), err=True)
        sys.exit(exc.exit_code)


def _is_spec_error(exc: Exception) -> bool:
    from provisioner.errors import SpecError

    return isinstance(exc, SpecError)


if __name__ == "__main__":
    main()
