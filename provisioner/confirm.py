"""Asking before acting on a cloud: `--yes` skips the question; with no terminal and no
`--yes` we refuse rather than hang on a prompt nobody sees or guess an answer."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from provisioner.errors import RlcloudError, UsageError


class Declined(RlcloudError):
    """The user answered no: nothing was changed."""

    exit_code = 1


def confirm(
    question: str,
    *,
    assume_yes: bool,
    stdin: TextIO | None = None,
    ask: Callable[[str], str] | None = None,
) -> None:
    if assume_yes:
        return
    stream = stdin or sys.stdin
    if not stream.isatty():
        raise UsageError(f"{question} needs a yes, and there is no terminal to ask on", hint="re-run with --yes")
    answer = (ask or input)(f"{question} [y/N] ").strip().lower()
    if answer not in {"y", "yes"}:
        raise Declined("aborted; nothing was changed")
