"""The box's AWS account as the server process sees it: moto's in-process state, read by the
VM reconciler and the metadata service (never through HTTP, so they need no credentials and
leave no trail), plus the admin user whose keys go into the env file."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

ACCOUNT = "123456789012"  # moto's default account
ADMIN_USER = "cloudbox-admin"
CREDENTIAL_LIFETIME_S = 6 * 3600  # EC2 instance credentials last about six hours
REFRESH_BEFORE_S = 15 * 60  # and are renewed well before they expire


@dataclass(frozen=True)
class AdminKeys:
    access_key_id: str
    secret_access_key: str


def create_admin() -> AdminKeys:
    """An IAM user with the AWS-managed AdministratorAccess policy, made in-process before
    the server enforces IAM (nothing could sign the request that would create it)."""
    from moto.iam.models import iam_backends

    iam = iam_backends[ACCOUNT]["aws"]
    iam.create_user(region_name="us-east-1", user_name=ADMIN_USER, path="/", tags=[])
    iam.attach_user_policy("arn:aws:iam::aws:policy/AdministratorAccess", ADMIN_USER)
    key = iam.create_access_key(ADMIN_USER)
    return AdminKeys(access_key_id=key.access_key_id, secret_access_key=key.secret_access_key)


def ec2_regions() -> Iterator[tuple[str, Any]]:
    from moto.ec2.models import ec2_backends

    for region in list(ec2_backends[ACCOUNT].keys()):
        yield region, ec2_backends[ACCOUNT][region]


def instances() -> Iterator[tuple[str, Any]]:
    """(region, moto Instance) for every instance ever launched (terminated ones included)."""
    for region, backend in ec2_regions():
        for reservation in list(backend.reservations.values()):
            for instance in list(reservation.instances):
                yield region, instance


def instance_at(ip: str) -> tuple[str, Any] | None:
    """The running instance whose private IP is `ip` (how the metadata service knows who asks)."""
    for region, instance in instances():
        if instance.private_ip == ip and instance.state == "running":
            return region, instance
    return None


def authorized_keys(region: str, instance: Any) -> list[str]:
    """The public key of the instance's key pair, as EC2's images install it for the login user."""
    from moto.ec2.models import ec2_backends

    pair = ec2_backends[ACCOUNT][region].key_pairs.get(instance.key_name) if instance.key_name else None
    if pair is None:
        return []
    material = pair.material_public
    return [material.decode() if isinstance(material, bytes) else str(material)]


def instance_profile(region: str, instance: Any) -> Any | None:
    """The moto InstanceProfile associated with the instance, if any."""
    from moto.ec2.models import ec2_backends

    association = ec2_backends[ACCOUNT][region].iam_instance_profile_associations.get(instance.id)
    return association.iam_instance_profile if association is not None else None


@dataclass
class Credentials:
    access_key_id: str
    secret_access_key: str
    token: str
    expiration: datetime.datetime
    issued: datetime.datetime


class InstanceCredentials:
    """Role credentials per instance, from moto's STS (an AssumeRole by the box itself, as
    EC2 assumes an instance's role), renewed before they expire."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], Credentials] = {}
        self._lock = threading.Lock()

    def for_instance(self, instance_id: str, role_arn: str) -> Credentials:
        from moto.sts.models import sts_backends

        now = datetime.datetime.now(datetime.timezone.utc)
        with self._lock:
            found = self._cache.get((instance_id, role_arn))
            if found is not None and (found.expiration - now).total_seconds() > REFRESH_BEFORE_S:
                return found
            role = sts_backends[ACCOUNT]["aws"].assume_role(
                region_name="us-east-1",
                role_session_name=instance_id,
                role_arn=role_arn,
                policy="",
                duration=CREDENTIAL_LIFETIME_S,
                external_id="",
            )
            expiration = role.expiration if role.expiration.tzinfo else role.expiration.replace(tzinfo=datetime.timezone.utc)
            found = Credentials(role.access_key_id, role.secret_access_key, role.session_token, expiration, now)
            self._cache[(instance_id, role_arn)] = found
            return found
