"""Named crash points for tests: `RLCLOUD_FAILPOINT=NAME[:key=value,...]` SIGKILLs the process
when the code passes NAME with matching context.

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
    for condition in filter(None, conditions.split(",")):
        key, _, value = condition.partition("=")
        if str(context.get(key)) != value:
            return
    log.warning("failpoint %s reached (%s): killing this process", name, context)
    print(f"failpoint {name} reached ({context}): killing this process", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
