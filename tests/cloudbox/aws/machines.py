"""Every instance moto reports running becomes a VM, within a poll interval; stopped
instances stop their VM (keeping its disk), terminated ones kill it and remove its disk."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.cloudbox.aws import account
from tests.cloudbox.vm import VmHost, VmSpec

log = logging.getLogger("cloudbox.machines")

IMAGE_USER = "ubuntu"  # the login user of the box's image, as on Ubuntu AMIs
RAY_NODE_KIND_TAG = "ray-node-type"  # "head" or "worker", set by Ray's node provider


@dataclass
class Faults:
    """Faults tests inject into VMs booted from now on, by Ray node kind (head / worker)."""

    no_sshd: set[str] = field(default_factory=set)

    def sshd_for(self, kind: str) -> bool:
        return not ({kind, "any"} & self.no_sshd)


def node_kind(region: str, instance: Any) -> str:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account.ACCOUNT][region].tags.get(instance.id, {}).get(RAY_NODE_KIND_TAG, "")


class Machines:
    def __init__(self, host: VmHost, image_env: dict[str, str], faults: Faults, poll_s: float = 0.25) -> None:
        self.host = host
        self.image_env = image_env
        self.faults = faults
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

    def _spec(self, region: str, instance: Any) -> VmSpec:
        return VmSpec(
            vm_id=instance.id,
            ip=instance.private_ip,
            hostname=f"ip-{instance.private_ip.replace('.', '-')}",
            user=IMAGE_USER,
            authorized_keys=tuple(account.authorized_keys(region, instance)),
            # The region too, as images for one region carry it (boto3 does not ask IMDS for it).
            env=tuple(sorted({**self.image_env, "AWS_DEFAULT_REGION": region}.items())),
            sshd=self.faults.sshd_for(node_kind(region, instance)),
        )

    def reconcile(self) -> None:
        states = {instance.id: (region, instance) for region, instance in account.instances()}
        # Terminations first: EC2 may hand a terminated instance's IP to the next launch.
        for vm_id, vm in list(self.host.vms.items()):
            found = states.get(vm_id)
            state = found[1].state if found else "terminated"
            if state in ("terminated", "shutting-down"):
                log.info("terminating VM %s", vm_id)
                self.host.terminate(vm_id)
            elif state in ("stopped", "stopping") and vm.state == "running":
                log.info("stopping VM %s", vm_id)
                self.host.stop(vm_id)
        now = time.monotonic()
        for vm_id, (region, instance) in states.items():
            vm = self.host.vms.get(vm_id)
            if instance.state == "running" and (vm is None or vm.state != "running"):
                # Seen on an earlier poll: a launch tags its instances right after creating
                # them, and the node kind (head / worker) decides injected faults.
                if now - self._first_seen.setdefault(vm_id, now) < self.poll_s:
                    continue
                log.info("booting VM %s at %s", vm_id, instance.private_ip)
                self.host.boot(self._spec(region, instance))
