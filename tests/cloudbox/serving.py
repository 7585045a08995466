"""What every cloud's box server does once its API and metadata servers listen: reconcile
instances into VMs, answer the host on the control socket, tell the host it is ready, and on
`stop` (or SIGTERM) terminate every VM and close its servers.

Readiness is `server.json` in the state directory, written whole or not at all: the host's
`start` waits for it and writes the env file from its `env` (what points the cloud's SDKs,
rlcloud and Ray at the box).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Protocol

from tests.cloudbox import control
from tests.cloudbox.machines import Faults, Machines
from tests.cloudbox.vm import SYSTEM_PATH, VmHost

SERVER_FILE = "server.json"
# Each VM believes it has the host's memory; a small object store keeps a VM within the
# box's memory budget (about 600 MB per VM).
OBJECT_STORE_PROPORTION = "0.02"
log = logging.getLogger("cloudbox.server")


def image_env(cloud_env: dict[str, str]) -> dict[str, str]:
    """What the box's image carries: its Python environment first on PATH, and `cloud_env`
    (the cloud's private API endpoint with its CA, as in an isolated network)."""
    venv_bin = str(Path(sys.executable).parent)
    return {
        "PATH": f"{venv_bin}:{SYSTEM_PATH}",
        "LANG": "C.UTF-8",
        "RAY_DEFAULT_OBJECT_STORE_MEMORY_PROPORTION": OBJECT_STORE_PROPORTION,
        **cloud_env,
    }


class Closable(Protocol):
    def shutdown(self) -> None: ...


def run_box(
    state: Path,
    *,
    cloud: str,
    host: VmHost,
    machines: Machines,
    faults: Faults,
    servers: list[Closable],
    endpoint: str,
    ca_cert: Path,
    env: dict[str, str],
    handlers: dict[str, control.Handler] | None = None,
) -> None:
    """Run until the host asks the box to stop; `env` goes into the host's env file."""
    machines.start()
    done = threading.Event()

    def set_faults(body: dict[str, Any]) -> dict[str, Any]:
        faults.no_sshd = set(body.get("no_sshd", []))
        return {"no_sshd": sorted(faults.no_sshd)}

    def shutdown(_: dict[str, Any]) -> str:
        done.set()
        return "stopping"

    every: dict[str, control.Handler] = {
        "vms": lambda _: host.describe(),
        "faults": set_faults,
        "shutdown": shutdown,
        "ping": lambda _: "pong",
        **(handlers or {}),
    }
    ctl = control.serve(state / control.SOCKET_NAME, every)
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    info = {"pid": os.getpid(), "cloud": cloud, "endpoint": endpoint, "ca_cert": str(ca_cert), "env": env}
    partial = state / f"{SERVER_FILE}.partial"
    partial.write_text(json.dumps(info))
    partial.rename(state / SERVER_FILE)
    log.info("cloud box (%s) ready: API %s", cloud, endpoint)

    done.wait()
    log.info("shutting down")
    machines.stop()
    host.shutdown()
    for server in [*servers, ctl]:
        server.shutdown()
    log.info("stopped")
