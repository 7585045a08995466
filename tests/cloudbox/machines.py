"""Every instance the cloud's API reports running becomes a VM, within a poll interval;
stopped instances stop their VM (keeping its disk), terminated or deleted ones kill it and
remove its disk. One reconciler for every cloud: each says what instances it has
(`Instance`) and how one boots (`VmSpec`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.cloudbox.vm import VmHost, VmSpec

log = logging.getLogger("cloudbox.machines")

RUNNING, STOPPED, GONE = "running", "stopped", "gone"


@dataclass
class Faults:
    """Faults tests inject into VMs booted from now on, by Ray node kind (head / worker)."""

    no_sshd: set[str] = field(default_factory=set)

    def sshd_for(self, kind: str) -> bool:
        return not ({kind, "any"} & self.no_sshd)


@dataclass(frozen=True)
class Instance:
    """One instance as the cloud reports it: RUNNING, STOPPED (or stopping) or GONE
    (terminated, shutting down or deleted), and how to boot it (read when it boots, so the
    spec sees labels and tags set right after the launch)."""

    vm_id: str
    ip: str
    state: str
    spec: Callable[[], VmSpec]


class Machines:
    def __init__(self, host: VmHost, instances: Callable[[], list[Instance]], poll_s: float = 0.25) -> None:
        self.host = host
        self.instances = instances
        self.poll_s = poll_s
        self._first_seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="machines", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.reconcile()
            except Exception:  # keep reconciling: one bad instance must not stop the box
                log.exception("reconcile failed")

    def reconcile(self) -> None:
        states = {instance.vm_id: instance for instance in self.instances()}
        # Terminations first: a cloud may hand a terminated instance's IP to the next launch.
        for vm_id, vm in list(self.host.vms.items()):
            found = states.get(vm_id)
            state = found.state if found else GONE
            if state == GONE:
                log.info("terminating VM %s", vm_id)
                self.host.terminate(vm_id)
                self._first_seen.pop(vm_id, None)
            elif state == STOPPED and vm.state == "running":
                log.info("stopping VM %s", vm_id)
                self.host.stop(vm_id)
        now = time.monotonic()
        for vm_id, instance in states.items():
            booted = self.host.vms.get(vm_id)
            if instance.state == RUNNING and (booted is None or booted.state != "running"):
                # Seen on an earlier poll: a launch labels its instances right after creating
                # them, and the node kind (head / worker) decides injected faults.
                if now - self._first_seen.setdefault(vm_id, now) < self.poll_s:
                    continue
                log.info("booting VM %s at %s", vm_id, instance.ip)
                self.host.boot(instance.spec())
