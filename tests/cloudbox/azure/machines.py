"""The Azure box's instances, as the shared reconciler (tests/cloudbox/machines.py) reads
them: every virtual machine the ARM fake holds, at its NIC's private IP, its power state
deciding whether its VM runs, booted with sshd taking the keys of its osProfile."""

from __future__ import annotations

import copy
import functools
from typing import Any

from tests.azure.fake_arm.server import FakeArm
from tests.cloudbox.machines import GONE, RUNNING, STOPPED, Faults, Instance
from tests.cloudbox.vm import VmSpec

VM_TYPE = "Microsoft.Compute/virtualMachines"
RAY_NODE_KIND_TAG = "ray-node-type"  # "head" or "worker", set by Ray's node provider
# PowerState codes: a deallocated or stopped VM keeps its disk; a deleted one is not listed.
_STATES = {"running": RUNNING, "starting": RUNNING, "stopped": STOPPED, "stopping": STOPPED, "deallocated": STOPPED, "deallocating": STOPPED}


def private_ip(arm: FakeArm, vm: dict[str, Any]) -> str | None:
    """The primary NIC's first private address (call with the fake's lock held)."""
    nics = ((vm.get("properties") or {}).get("networkProfile") or {}).get("networkInterfaces") or []
    nic = arm.store.get(nics[0]["id"]) if nics else None
    configs = ((nic or {}).get("properties") or {}).get("ipConfigurations") or []
    return ((configs[0].get("properties") or {}).get("privateIPAddress")) if configs else None


def power_state(arm: FakeArm, vm: dict[str, Any]) -> str:
    return arm.store.instance_state.get(vm["id"].lower(), "running")


def snapshot(arm: FakeArm) -> list[tuple[dict[str, Any], str | None, str]]:
    """(VM JSON, private IP, power state) of every VM, copied under the fake's lock."""
    with arm.lock:
        return [(copy.deepcopy(vm), private_ip(arm, vm), power_state(arm, vm)) for vm in arm.store.of_type(VM_TYPE)]


def _spec(image_env: dict[str, str], faults: Faults, vm: dict[str, Any], ip: str) -> VmSpec:
    os_profile = (vm.get("properties") or {}).get("osProfile") or {}
    keys = ((os_profile.get("linuxConfiguration") or {}).get("ssh") or {}).get("publicKeys") or []
    return VmSpec(
        vm_id=vm["properties"]["vmId"],
        ip=ip,
        hostname=os_profile.get("computerName") or vm["name"],
        user=os_profile.get("adminUsername") or "azureuser",
        authorized_keys=tuple(str(k["keyData"]).strip() for k in keys if k.get("keyData")),
        env=tuple(sorted(image_env.items())),
        sshd=faults.sshd_for((vm.get("tags") or {}).get(RAY_NODE_KIND_TAG, "")),
    )


def instances(arm: FakeArm, image_env: dict[str, str], faults: Faults) -> list[Instance]:
    return [
        Instance(vm["properties"]["vmId"], ip, _STATES.get(state, GONE), functools.partial(_spec, image_env, faults, vm, ip))
        for vm, ip, state in snapshot(arm)
        if ip is not None and vm.get("properties", {}).get("vmId")
    ]
