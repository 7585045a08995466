"""The AWS box's instances, as the shared reconciler (tests/cloudbox/machines.py) reads
them: moto's EC2 instances in every region, booted with their key pair's public key."""

from __future__ import annotations

import functools
from typing import Any

from tests.cloudbox.aws import account
from tests.cloudbox.machines import GONE, RUNNING, STOPPED, Faults, Instance
from tests.cloudbox.vm import VmSpec

IMAGE_USER = "ubuntu"  # the login user of the box's image, as on Ubuntu AMIs
RAY_NODE_KIND_TAG = "ray-node-type"  # "head" or "worker", set by Ray's node provider
_STATES = {"running": RUNNING, "stopped": STOPPED, "stopping": STOPPED, "terminated": GONE, "shutting-down": GONE}


def node_kind(region: str, instance: Any) -> str:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account.ACCOUNT][region].tags.get(instance.id, {}).get(RAY_NODE_KIND_TAG, "")


def _spec(image_env: dict[str, str], faults: Faults, region: str, instance: Any) -> VmSpec:
    return VmSpec(
        vm_id=instance.id,
        ip=instance.private_ip,
        hostname=f"ip-{instance.private_ip.replace('.', '-')}",
        user=IMAGE_USER,
        authorized_keys=tuple(account.authorized_keys(region, instance)),
        # The region too, as images for one region carry it (boto3 does not ask IMDS for it).
        env=tuple(sorted({**image_env, "AWS_DEFAULT_REGION": region}.items())),
        sshd=faults.sshd_for(node_kind(region, instance)),
    )


def instances(image_env: dict[str, str], faults: Faults) -> list[Instance]:
    return [
        Instance(
            instance.id, instance.private_ip, _STATES.get(instance.state, "pending"), functools.partial(_spec, image_env, faults, region, instance)
        )
        for region, instance in account.instances()
    ]
