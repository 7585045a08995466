"""Named crash points for tests: `RLCLOUD_FAILPOINT=NAME[:key=value,...]` SIGKILLs the process
when the code passes NAME with matching context. `once=PATH` fires only if PATH does not
exist yet (and creates it), so a restarted process gets past the same point.

They make "killed mid-checkpoint" a real crash at a known moment (data written, manifest
not), so resume is tested deterministically rather than by racing a timer. Unset, a
failpoint is one environment lookup.
"""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

log = logging.getLogger(__name__)

ENV = "RLCLOUD_FAILPOINT"


def failpoint(name: str, **context: Any) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    point, _, conditions = spec.partition(":")
    if point != name:
        return
    marker = None
    for condition in filter(None, conditions.split(",")):
        key, _, value = condition.partition("=")
        if key == "once":
            marker = value
        elif str(context.get(key)) != value:
            return
    if marker is not None:
        try:
            with open(marker, "x"):
                pass
        except FileExistsError:
            return
    log.warning("failpoint %s reached (%s): killing this process", name, context)
    print(f"failpoint {name} reached ({context}): killing this process", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
