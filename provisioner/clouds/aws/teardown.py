"""Delete what `up` created, in dependency order, independent deletes in parallel:

  1. instances (terminated and waited for), open spot requests, the bucket (--purge-storage)
  2. detached interfaces and volumes, key pair, placement group, instance profiles
  3. security groups (in use until the instances' interfaces are gone), IAM roles (in use
     until their profiles are gone)

"Still in use" answers (DependencyViolation, ...InUse, DeleteConflict) are retried with
backoff under a time budget; "already gone" answers count as deleted, so `down` can run
again after any interruption. Whatever cannot be deleted is returned with the AWS CLI
command that deletes it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from provisioner.clouds.aws import bucket, identity, keypair, placement, security_group
from provisioner.clouds.aws import inspection as kind
from provisioner.clouds.aws.errors import error_code, to_cloud_error
from provisioner.clouds.aws.inventory import Found
from provisioner.clouds.aws.session import AwsSession
from provisioner.naming import AWS_NODE_POLICY_NAME
from provisioner.progress import Progress
from provisioner.retry import retry_while

STAGES: list[set[str]] = [
    {kind.INSTANCE, kind.SPOT_REQUEST, kind.BUCKET},
    {kind.NETWORK_INTERFACE, kind.VOLUME, kind.KEY_PAIR, kind.PLACEMENT_GROUP, kind.INSTANCE_PROFILE},
    {kind.SECURITY_GROUP, kind.IAM_ROLE},
]
IN_USE = {"DependencyViolation", "InvalidPlacementGroup.InUse", "DeleteConflict", "VolumeInUse", "InvalidNetworkInterface.InUse"}
GONE = {
    "InvalidGroup.NotFound",
    "InvalidKeyPair.NotFound",
    "InvalidPlacementGroup.Unknown",
    "InvalidNetworkInterfaceID.NotFound",
    "InvalidVolume.NotFound",
    "InvalidInstanceID.NotFound",
    "InvalidSpotInstanceRequestID.NotFound",
    "NoSuchEntity",
    "NoSuchBucket",
}
IN_USE_BUDGET_S = 180.0
TERMINATE_WAIT = {"Delay": 5, "MaxAttempts": 120}  # instances usually terminate within 2 minutes
PARALLEL = 8


def delete_command(found: Found, region: str) -> str:
    ec2 = f"aws ec2 --region {region}"
    return {
        kind.INSTANCE: f"{ec2} terminate-instances --instance-ids {found.id}",
        kind.SPOT_REQUEST: f"{ec2} cancel-spot-instance-requests --spot-instance-request-ids {found.id}",
        kind.VOLUME: f"{ec2} delete-volume --volume-id {found.id}",
        kind.NETWORK_INTERFACE: f"{ec2} delete-network-interface --network-interface-id {found.id}",
        kind.SECURITY_GROUP: f"{ec2} delete-security-group --group-id {found.id}",
        kind.KEY_PAIR: f"{ec2} delete-key-pair --key-name {found.id}",
        kind.PLACEMENT_GROUP: f"{ec2} delete-placement-group --group-name {found.id}",
        # rlcloud names each profile like the role it carries
        kind.INSTANCE_PROFILE: f"aws iam remove-role-from-instance-profile --instance-profile-name {found.id} --role-name {found.id}"
        f" && aws iam delete-instance-profile --instance-profile-name {found.id}",
        kind.IAM_ROLE: f"aws iam delete-role-policy --role-name {found.id} --policy-name {AWS_NODE_POLICY_NAME} && aws iam delete-role --role-name {found.id}",
        kind.BUCKET: f"empty every object version of s3://{found.id} (console: Empty), then aws s3api delete-bucket --bucket {found.id}",
    }[found.kind]


def _deleter(aws: AwsSession, what: str) -> Callable[[str], None]:
    ec2 = aws.ec2
    return {
        kind.SPOT_REQUEST: lambda rid: ec2.cancel_spot_instance_requests(SpotInstanceRequestIds=[rid]),
        kind.VOLUME: lambda vid: ec2.delete_volume(VolumeId=vid),
        kind.NETWORK_INTERFACE: lambda eni: ec2.delete_network_interface(NetworkInterfaceId=eni),
        kind.SECURITY_GROUP: lambda gid: security_group.delete(ec2, gid),
        kind.KEY_PAIR: lambda name: keypair.delete(ec2, name),
        kind.PLACEMENT_GROUP: lambda name: placement.delete(ec2, name),
        kind.INSTANCE_PROFILE: lambda name: identity.delete_profile(aws.iam, name),
        kind.IAM_ROLE: lambda name: identity.delete_role(aws.iam, name),
        kind.BUCKET: lambda name: bucket.delete(aws.s3, name),
    }[what]


def terminate_instances(ec2: Any, ids: list[str]) -> None:
    """Terminate (not stop: stopped nodes still bill for their disks) and wait until gone."""
    for start in range(0, len(ids), 1000):
        ec2.terminate_instances(InstanceIds=ids[start : start + 1000])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig=TERMINATE_WAIT)


class Teardown:
    """One `down`: deletes found resources stage by stage; remembers why something failed."""

    def __init__(self, aws: AwsSession, progress: Progress, on_deleted: Callable[[Found], None]) -> None:
        self.aws = aws
        self.progress = progress
        self.on_deleted = on_deleted
        self.failures: dict[tuple[str, str], str] = {}

    def run(self, found: list[Found]) -> None:
        for stage in STAGES:
            batch = [f for f in found if f.kind in stage]
            if not batch:
                continue
            with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
                jobs = [pool.submit(self._instances, [f for f in batch if f.kind == kind.INSTANCE])]
                jobs += [pool.submit(self._one, f) for f in batch if f.kind != kind.INSTANCE]
                for job in jobs:
                    job.result()

    def _instances(self, found: list[Found]) -> None:
        if not found:
            return
        ids = [f.id for f in found]
        self.progress.step(f"terminating {len(ids)} instance(s): {', '.join(ids)}")
        try:
            terminate_instances(self.aws.ec2, ids)
        except Exception as exc:
            for f in found:
                self.failures[(f.kind, f.id)] = str(to_cloud_error(exc, "terminating").message)
            return
        for f in found:
            self.on_deleted(f)

    def _one(self, found: Found) -> None:
        delete = _deleter(self.aws, found.kind)

        def attempt() -> None:
            try:
                delete(found.id)
            except Exception as exc:
                if error_code(exc) not in GONE:
                    raise

        def note(exc: Exception, delay: float) -> None:
            self.progress.waiting(f"{found.kind} {found.id} is still in use ({error_code(exc)}); retrying")

        self.progress.step(f"deleting {found.kind} {found.id}")
        try:
            retry_while(attempt, lambda exc: error_code(exc) in IN_USE, budget_s=IN_USE_BUDGET_S, on_retry=note)
        except Exception as exc:
            self.failures[(found.kind, found.id)] = str(to_cloud_error(exc, f"deleting {found.kind} {found.id}").message)
            return
        self.on_deleted(found)
