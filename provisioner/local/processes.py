"""Find and stop exactly one local cluster's processes.

`ray stop` kills every Ray process on the machine, including other users' clusters and other
rlcloud clusters; we never call it. A local cluster's root processes carry its private temp
dir or its GCS port in their command lines (gcs_server, raylets, monitor, dashboard, client
server); everything else (workers, agents, dashboard modules, job drivers) descends from them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

import psutil

# Stopped first so it cannot relaunch simulated nodes while the rest goes down.
_MONITOR_MARK = "autoscaler/_private/monitor.py"


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return ""


def _is_root(cmdline: str, temp_dir: str, gcs_port: int) -> bool:
    if not cmdline:
        return False
    if temp_dir in cmdline:
        return True
    # The Ray client server names the GCS only by address; without a known port we cannot
    # tell whose it is, so we leave it alone rather than risk another cluster's.
    if not gcs_port or "ray.util.client.server" not in cmdline:
        return False
    return re.search(rf"--address=\S+:{gcs_port}(\s|$)", cmdline) is not None


def find_cluster_processes(temp_dir: str, gcs_port: int) -> list[psutil.Process]:
    """Every live process of the cluster: roots matched by marker, plus their descendants."""
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter():
        if _is_root(_cmdline(proc), temp_dir, gcs_port):
            found[proc.pid] = proc
            try:
                for child in proc.children(recursive=True):
                    found[child.pid] = child
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                pass
    return [p for p in found.values() if _alive(p)]


def _alive(proc: psutil.Process) -> bool:
    try:
        return bool(proc.is_running()) and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False


def _wait_gone(procs: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Wait until each process has exited; a zombie counts as exited (its parent may be an
    init that never reaps it, and psutil.wait_procs would wait for it forever)."""
    deadline = time.monotonic() + timeout_s
    alive = [p for p in procs if _alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if _alive(p)]
    return alive


def _signal(procs: Iterable[psutil.Process], kill: bool) -> None:
    for proc in procs:
        try:
            proc.kill() if kill else proc.terminate()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            pass


def stop_cluster_processes(temp_dir: str, gcs_port: int, grace_s: float = 3.0) -> list[psutil.Process]:
    """SIGTERM the cluster (autoscaler first), SIGKILL what outlives `grace_s`; return survivors.

    The grace is short on purpose: gcs_server and raylets wait on each other and ignore
    SIGTERM for 10 s or more, and nothing of a local cluster needs a clean shutdown (the
    Python processes flush their logs within the grace; checkpoints live elsewhere).
    """
    procs = find_cluster_processes(temp_dir, gcs_port)
    monitors = [p for p in procs if _MONITOR_MARK in _cmdline(p)]
    _signal(monitors, kill=False)
    _wait_gone(monitors, min(grace_s, 3.0))
    deadline = time.monotonic() + grace_s
    while True:
        procs = find_cluster_processes(temp_dir, gcs_port)
        if not procs:
            return []
        _signal(procs, kill=False)
        alive = _wait_gone(procs, max(0.1, min(2.0, deadline - time.monotonic())))
        if not alive:
            continue  # re-scan: orphans re-parented to init are found by marker again
        if time.monotonic() >= deadline:
            _signal(alive, kill=True)
            _wait_gone(alive, 5.0)
            return find_cluster_processes(temp_dir, gcs_port)
