"""Small printing helpers shared by the CLI commands (stderr for diagnostics, stdout for data)."""

from __future__ import annotations

import sys

import typer


def info(message: str) -> None:
    typer.echo(message, err=True)


def warn(message: str) -> None:
    typer.secho(f"warning: {message}", fg=typer.colors.YELLOW, err=True)


def error(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)


def ok(message: str) -> None:
    typer.secho(message, fg=typer.colors.GREEN, err=True)


def data(text: str) -> None:
    """Machine-readable output (YAML, JSON) goes to stdout, untouched."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
