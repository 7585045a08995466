"""Node identities: an IAM role + instance profile for the head and one for the workers,
each with one inline policy (policies.py). Roles and profiles carry the cluster tags
(`get_instance_profile` returns them; moto lacks ListInstanceProfileTags).

IAM is eventually consistent: a fresh profile can be unknown to EC2 for seconds. We wait
with IAM's own waiters and then `propagation.wait_until_launchable`, instead of sleeping.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from provisioner.clouds.aws import tags
from provisioner.clouds.aws.errors import aws_errors, or_none
from provisioner.clouds.aws.inspection import IAM_ROLE, INSTANCE_PROFILE, Inspection, Recorder
from provisioner.clouds.aws.policies import TRUST_POLICY
from provisioner.errors import CloudError
from provisioner.naming import AWS_NODE_POLICY_NAME
from provisioner.state import CloudResource

# IAM's own waiters poll every second here (their default is 1 s x 20 attempts).
WAITER = {"Delay": 1, "MaxAttempts": 30}
UNKNOWN = object()  # the policy depends on ids that do not exist yet (planning a first up)


@dataclass(frozen=True)
class NodeIdentity:
    role: str  # head or worker
    role_name: str
    profile_name: str


def _get(call: Any, **kwargs: Any) -> Any:
    return or_none(call, "NoSuchEntity", **kwargs)


def _current_policy(iam: Any, role_name: str) -> dict[str, Any] | None:
    answer = _get(iam.get_role_policy, RoleName=role_name, PolicyName=AWS_NODE_POLICY_NAME)
    if answer is None:
        return None
    doc = answer["PolicyDocument"]
    parsed: dict[str, Any] = json.loads(doc) if isinstance(doc, str) else doc
    return parsed


def inspect_role(iam: Any, cluster: str, ident: NodeIdentity, policy: Any) -> Inspection:
    """`policy`: the desired inline policy, None for none, or UNKNOWN. `current` holds the
    role, its attached managed policies and its inline policy."""
    with aws_errors(f"looking up IAM role {ident.role_name}"):
        role = _get(iam.get_role, RoleName=ident.role_name)
        if role is None:
            return Inspection(IAM_ROLE, ident.role_name, "create", f"{ident.role} nodes' identity; inline policy {AWS_NODE_POLICY_NAME}")
        role = role["Role"]
        tags.require_ours(role.get("Tags"), cluster, f"IAM role {ident.role_name}")
        attached = iam.list_attached_role_policies(RoleName=ident.role_name)["AttachedPolicies"]
        current = _current_policy(iam, ident.role_name)
    found = Inspection(IAM_ROLE, ident.role_name, "keep", current={"role": role, "attached": attached, "policy": current})
    if attached:
        found.changes.append("detach managed policies " + ", ".join(p["PolicyName"] for p in attached))
    if policy is UNKNOWN:
        found.changes.append("policy will name resources created in this run")
    elif current != policy:
        found.changes.append("set inline policy" if policy is not None else "remove inline policy")
    if found.changes:
        found.action = "update"
    return found


def inspect_profile(iam: Any, cluster: str, ident: NodeIdentity) -> Inspection:
    with aws_errors(f"looking up instance profile {ident.profile_name}"):
        profile = _get(iam.get_instance_profile, InstanceProfileName=ident.profile_name)
    if profile is None:
        return Inspection(INSTANCE_PROFILE, ident.profile_name, "create", f"carries role {ident.role_name}")
    profile = profile["InstanceProfile"]
    tags.require_ours(profile.get("Tags"), cluster, f"instance profile {ident.profile_name}")
    roles = [r["RoleName"] for r in profile.get("Roles", [])]
    found = Inspection(INSTANCE_PROFILE, ident.profile_name, "keep", current=profile)
    if roles != [ident.role_name]:
        found.action = "update"
        found.changes = [f"attach role {ident.role_name}"] + [f"detach role {r}" for r in roles if r != ident.role_name]
    return found


def ensure_role(iam: Any, cluster: str, ident: NodeIdentity, found: Inspection, policy: dict[str, Any] | None, record: Recorder) -> tuple[str, bool]:
    """Create the role if missing and make its permissions exactly `policy` (no managed
    policies); return (role ARN, whether anything changed)."""
    current = found.current or {"role": None, "attached": [], "policy": None}
    role = current["role"]
    changed = False
    if role is None:
        with aws_errors(f"creating IAM role {ident.role_name}"):
            role = iam.create_role(
                RoleName=ident.role_name,
                AssumeRolePolicyDocument=json.dumps(TRUST_POLICY),
                Description=f"rlcloud cluster {cluster}: {ident.role} nodes",
                MaxSessionDuration=3600,
                Tags=tags.cluster_tags(cluster),
            )["Role"]
        changed = True
    record(CloudResource(kind=IAM_ROLE, id=ident.role_name, extra={"role": ident.role}))
    with aws_errors(f"setting the policy of IAM role {ident.role_name}"):
        for attached in current["attached"]:
            iam.detach_role_policy(RoleName=ident.role_name, PolicyArn=attached["PolicyArn"])
            changed = True
        if policy is None and current["policy"] is not None:
            iam.delete_role_policy(RoleName=ident.role_name, PolicyName=AWS_NODE_POLICY_NAME)
            changed = True
        elif policy is not None and current["policy"] != policy:
            iam.put_role_policy(RoleName=ident.role_name, PolicyName=AWS_NODE_POLICY_NAME, PolicyDocument=json.dumps(policy))
            changed = True
    return role["Arn"], changed


def ensure_profile(iam: Any, cluster: str, ident: NodeIdentity, found: Inspection, record: Recorder) -> tuple[str, bool]:
    """Create the profile and put the role in it; return (profile ARN, whether anything changed).
    A profile created here is recorded as not yet launchable (EC2 may not know it yet)."""
    profile = found.current
    changed = False
    with aws_errors(f"creating instance profile {ident.profile_name}"):
        if profile is None:
            profile = iam.create_instance_profile(InstanceProfileName=ident.profile_name, Tags=tags.cluster_tags(cluster))["InstanceProfile"]
            record(CloudResource(kind=INSTANCE_PROFILE, id=ident.profile_name, extra={"role": ident.role, "launchable": False}))
            changed = True
        roles = [r["RoleName"] for r in profile.get("Roles", [])]
        for other in roles:
            if other != ident.role_name:
                iam.remove_role_from_instance_profile(InstanceProfileName=ident.profile_name, RoleName=other)
                changed = True
        if ident.role_name not in roles:
            iam.add_role_to_instance_profile(InstanceProfileName=ident.profile_name, RoleName=ident.role_name)
            changed = True
    return profile["Arn"], changed


def wait_until_visible(iam: Any, ident: NodeIdentity) -> None:
    """IAM's own read-after-write: the role and profile answer Get calls (AWS waiters)."""
    with aws_errors(f"waiting for IAM role {ident.role_name} and profile {ident.profile_name}"):
        iam.get_waiter("role_exists").wait(RoleName=ident.role_name, WaiterConfig=WAITER)
        iam.get_waiter("instance_profile_exists").wait(InstanceProfileName=ident.profile_name, WaiterConfig=WAITER)


def user_profile_arn(iam: Any, profile: str) -> str:
    """A profile the user brought (name or ARN) must exist; it is used as is, never changed."""
    name = profile.rsplit("/", 1)[-1]
    with aws_errors(f"looking up instance profile {name} (identity.instance_profile)"):
        found = _get(iam.get_instance_profile, InstanceProfileName=name)
    if found is None:
        raise CloudError(f"instance profile {name} (identity.instance_profile) does not exist")
    return str(found["InstanceProfile"]["Arn"])


def delete_profile(iam: Any, name: str) -> None:
    profile = _get(iam.get_instance_profile, InstanceProfileName=name)
    if profile is None:
        return
    for role in profile["InstanceProfile"].get("Roles", []):
        iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role["RoleName"])
    iam.delete_instance_profile(InstanceProfileName=name)


def delete_role(iam: Any, name: str) -> None:
    if _get(iam.get_role, RoleName=name) is None:
        return
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
    iam.delete_role(RoleName=name)
