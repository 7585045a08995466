"""Node identities: an IAM role + instance profile for the head and one for the workers,
each role with one inline policy (policies.py) and no managed policy. Roles and profiles
carry the cluster tags (`get_instance_profile` returns them; moto lacks ListInstanceProfileTags).

IAM is eventually consistent: a fresh profile can be unknown to EC2 for seconds. We wait
with IAM's own waiters and then `propagation.wait_until_launchable`, instead of sleeping.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provisioner import naming
from provisioner.clouds import ownership
from provisioner.clouds.aws import tags
from provisioner.clouds.aws.errors import unless_missing
from provisioner.clouds.aws.policies import TRUST_POLICY
from provisioner.clouds.reconcile import Resource, key_of
from provisioner.naming import AWS_NODE_POLICY_NAME

ROLE = "iam_role"
PROFILE = "instance_profile"
# IAM's own waiters poll every second here (their default is 1 s x 20 attempts).
WAITER = {"Delay": 1, "MaxAttempts": 30}
UNKNOWN = object()  # the policy depends on ids that do not exist yet (planning a first up)

RecordNow = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class NodeIdentity:
    role: str  # head or worker
    role_name: str
    profile_name: str


def node_identities(cluster: str) -> list[NodeIdentity]:
    """Workers first: the head's policy names the worker role (iam:PassRole)."""
    return [
        NodeIdentity("worker", naming.aws_role(cluster), naming.aws_instance_profile(cluster)),
        NodeIdentity("head", naming.aws_head_role(cluster), naming.aws_head_instance_profile(cluster)),
    ]


def _inline_policy(iam: Any, role_name: str) -> dict[str, Any] | None:
    answer = unless_missing(lambda: iam.get_role_policy(RoleName=role_name, PolicyName=AWS_NODE_POLICY_NAME))
    if answer is None:
        return None
    doc = answer["PolicyDocument"]
    parsed: dict[str, Any] = json.loads(doc) if isinstance(doc, str) else doc
    return parsed


def role_delete_command(name: str) -> str:
    return f"aws iam delete-role-policy --role-name {name} --policy-name {AWS_NODE_POLICY_NAME} && aws iam delete-role --role-name {name}"


def profile_delete_command(name: str, role_name: str) -> str:
    return (
        f"aws iam remove-role-from-instance-profile --instance-profile-name {name} --role-name {role_name}"
        f" && aws iam delete-instance-profile --instance-profile-name {name}"
    )


def _delete_role(iam: Any, name: str) -> None:
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
    iam.delete_role(RoleName=name)


def _delete_profile(iam: Any, profile: dict[str, Any]) -> None:
    name = profile["InstanceProfileName"]
    for role in profile.get("Roles", []):
        iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role["RoleName"])
    iam.delete_instance_profile(InstanceProfileName=name)


def declare_role(
    iam: Any, cluster: str, role: str, name: str, policy: Any = UNKNOWN, record_now: RecordNow | None = None
) -> Resource[dict[str, Any]]:
    """The role of `role` (head / worker) nodes. `policy`: its desired inline policy, None for
    none, or UNKNOWN while it names resources not created yet. The resource as read holds the
    role, its attached managed policies and its inline policy."""
    extra = {"role": role}

    def read() -> dict[str, Any] | None:
        found = iam.get_role(RoleName=name)["Role"]  # NoSuchEntity: absent
        if not ownership.tags_say_ours(tags.as_dict(found.get("Tags")), cluster):
            return {"role": found, "attached": [], "policy": None}  # not ours: not read further
        attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        return {"role": found, "attached": attached, "policy": _inline_policy(iam, name)}

    def update(current: dict[str, Any]) -> dict[str, Any]:
        """Make the role's permissions exactly `policy`: no managed policy, one inline policy."""
        for attached in current["attached"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
        if policy is None and current["policy"] is not None:
            iam.delete_role_policy(RoleName=name, PolicyName=AWS_NODE_POLICY_NAME)
        elif policy is not None and policy is not UNKNOWN and current["policy"] != policy:
            iam.put_role_policy(RoleName=name, PolicyName=AWS_NODE_POLICY_NAME, PolicyDocument=json.dumps(policy))
        return {**current, "attached": [], "policy": policy}

    def create() -> dict[str, Any]:
        created = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(TRUST_POLICY),
            Description=f"rlcloud cluster {cluster}: {role} nodes",
            MaxSessionDuration=3600,
            Tags=tags.cluster_tags(cluster),
        )["Role"]
        if record_now is not None:
            record_now(name, extra)
        return update({"role": created, "attached": [], "policy": None})

    def drift(current: dict[str, Any]) -> str | None:
        changes = []
        if current["attached"]:
            changes.append("detach managed policies " + ", ".join(p["PolicyName"] for p in current["attached"]))
        if policy is UNKNOWN:
            changes.append("policy will name resources created in this run")
        elif current["policy"] != policy:
            changes.append("set inline policy" if policy is not None else "remove inline policy")
        return "; ".join(changes) or None

    return Resource(
        kind=ROLE,
        name=name,
        read=read,
        create=create,
        update=update,
        delete=lambda _: _delete_role(iam, name),
        drift=drift,
        owned=lambda current: ownership.tags_say_ours(tags.as_dict(current["role"].get("Tags")), cluster),
        extra=lambda _: extra,
        detail=f"{role} nodes' identity; inline policy {AWS_NODE_POLICY_NAME}",
        foreign_hint=tags.foreign_hint(cluster),
        delete_command=role_delete_command(name),
    )


def declare_profile(
    iam: Any,
    cluster: str,
    ident: NodeIdentity,
    pending: set[str] | None = None,
    record_now: RecordNow | None = None,
) -> Resource[dict[str, Any]]:
    """The instance profile carrying `ident`'s role. `pending`: names of the profiles EC2 may
    not accept yet; one created or changed now joins it, and is recorded `launchable: False`
    until `up` has seen EC2 accept it."""
    name = ident.profile_name
    waiting = pending if pending is not None else set()

    def update(profile: dict[str, Any]) -> dict[str, Any]:
        waiting.add(name)
        roles = [r["RoleName"] for r in profile.get("Roles", [])]
        for other in roles:
            if other != ident.role_name:
                iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=other)
        if ident.role_name not in roles:
            iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=ident.role_name)
        return {**profile, "Roles": [{"RoleName": ident.role_name}]}

    def create() -> dict[str, Any]:
        profile: dict[str, Any] = iam.create_instance_profile(InstanceProfileName=name, Tags=tags.cluster_tags(cluster))["InstanceProfile"]
        waiting.add(name)
        if record_now is not None:
            record_now(name, extra(profile))
        return update(profile)

    def drift(profile: dict[str, Any]) -> str | None:
        roles = [r["RoleName"] for r in profile.get("Roles", [])]
        if roles == [ident.role_name]:
            return None
        return "; ".join([f"attach role {ident.role_name}"] + [f"detach role {r}" for r in roles if r != ident.role_name])

    def extra(_: dict[str, Any]) -> dict[str, Any]:
        return {"role": ident.role, "launchable": name not in waiting}

    return Resource(
        kind=PROFILE,
        name=name,
        read=lambda: iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"],
        create=create,
        update=update,
        delete=lambda profile: _delete_profile(iam, profile),
        drift=drift,
        owned=lambda profile: ownership.tags_say_ours(tags.as_dict(profile.get("Tags")), cluster),
        extra=extra,
        depends_on=(key_of(ROLE, ident.role_name),),
        detail=f"carries role {ident.role_name}",
        foreign_hint=tags.foreign_hint(cluster),
        delete_command=profile_delete_command(name, ident.role_name),
    )


def declare_users_profile(iam: Any, profile: str) -> Resource[dict[str, Any]]:
    """A profile the user named (identity.instance_profile, a name or an ARN): it must exist;
    it is used as is on every node, never changed or deleted."""
    name = profile.rsplit("/", 1)[-1]
    return Resource(
        kind=PROFILE,
        name=name,
        read=lambda: iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"],
        detail="yours: on every node, never modified",
        missing_hint="check identity.instance_profile",
    )


def wait_until_visible(iam: Any, ident: NodeIdentity) -> None:
    """IAM's own read-after-write: the role and profile answer Get calls (AWS waiters)."""
    iam.get_waiter("role_exists").wait(RoleName=ident.role_name, WaiterConfig=WAITER)
    iam.get_waiter("instance_profile_exists").wait(InstanceProfileName=ident.profile_name, WaiterConfig=WAITER)
