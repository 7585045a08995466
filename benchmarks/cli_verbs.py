"""Timing rlcloud's cloud verbs the way a user runs them: one fresh `rlcloud` process each."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

# (label, extra CLI args); "re-up" is a second `up` of the same spec.
VERBS = (("plan", ()), ("up", ("--yes", "--provision-only")), ("re-up", ("--yes", "--provision-only")), ("down", ("--yes",)))
REPEATS = 3


def run_verb(verb: str, args: tuple[str, ...], spec: Path, env: dict[str, str]) -> float:
    """Wall seconds of `rlcloud VERB SPEC ARGS` (raises if it fails)."""
    rlcloud = str(Path(sys.executable).with_name("rlcloud"))
    command = "up" if verb == "re-up" else verb
    start = time.perf_counter()
    subprocess.run([rlcloud, command, str(spec), *args], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start
