"""What each API request needs IAM to allow: the (action, resource ARN, condition keys) pairs
AWS's authorization would check, worked out from the request and the account's state.

Only the calls where it matters get more than moto's "action on *": the EC2 calls a scoped
policy can allow (RunInstances, CreateTags, Terminate/Stop/Start/RebootInstances), which
AWS authorizes per resource with tags as condition keys and with iam:PassRole for the
instance profile, and S3, where the bucket and object ARNs, `s3:prefix` and TLS count.
Every request also carries `aws:RequestedRegion`, `aws:SecureTransport` and the principal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tests.cloudbox.aws.iam_policy import AuthzRequest, ContextValue

# EC2 resource id prefix -> ARN resource type (CreateTags names resources by id).
EC2_ID_TYPES = {
    "i-": "instance",
    "vol-": "volume",
    "eni-": "network-interface",
    "sg-": "security-group",
    "subnet-": "subnet",
    "vpc-": "vpc",
    "ami-": "image",
    "sir-": "spot-instances-request",
    "key-": "key-pair",
    "pg-": "placement-group",
    "snap-": "snapshot",
}
INSTANCE_ACTIONS = {"TerminateInstances", "StopInstances", "StartInstances", "RebootInstances"}
# S3 operations moto names after the HTTP call whose IAM action has another name.
S3_ACTION_NAMES = {"HeadBucket": "ListBucket", "ListBucketV2": "ListBucket", "ListObjectsV2": "ListBucket"}


@dataclass(frozen=True)
class Caller:
    """Who signed the request, as IAM sees it."""

    arn: str  # user ARN, or the assumed-role session ARN
    account: str
    role_arn: str | None = None  # for an assumed role: arn:aws:iam::ACCOUNT:role/NAME

    @property
    def arns(self) -> tuple[str, ...]:
        return (self.arn, self.role_arn) if self.role_arn else (self.arn,)


def base_context(caller: Caller, region: str) -> dict[str, ContextValue]:
    context: dict[str, ContextValue] = {
        "aws:RequestedRegion": region,
        "aws:SecureTransport": "true",  # the box serves HTTPS only
        "aws:PrincipalArn": caller.role_arn or caller.arn,
        "aws:PrincipalAccount": caller.account,
    }
    return context


def _tags_context(prefix: str, tags: Mapping[str, str]) -> dict[str, ContextValue]:
    return {f"{prefix}/{key}": value for key, value in tags.items()}


def _resource_tags(tags: Mapping[str, str]) -> dict[str, ContextValue]:
    return {**_tags_context("ec2:ResourceTag", tags), **_tags_context("aws:ResourceTag", tags)}


def _request_tags(tags: Mapping[str, str]) -> dict[str, ContextValue]:
    context: dict[str, ContextValue] = _tags_context("aws:RequestTag", tags)
    context["aws:TagKeys"] = list(tags)
    return context


def _tag_list(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in tags or []}


class Ec2State(Protocol):
    """What authorization reads of one region's EC2 state."""

    def tags_of(self, resource_id: str) -> dict[str, str]: ...

    def instance_profile_role(self, profile: Mapping[str, str] | None) -> str | None: ...


@dataclass(frozen=True)
class Ec2View:
    """Ec2State from moto's EC2 backend of a region."""

    backend: Any  # moto EC2Backend of the region

    def tags_of(self, resource_id: str) -> dict[str, str]:
        tags = self.backend.tags.get(resource_id, {})
        return dict(tags)

    def instance_profile_role(self, profile: Mapping[str, str] | None) -> str | None:
        """The role ARN of an instance profile given as {"Arn": ...} or {"Name": ...}."""
        if not profile:
            return None
        from moto.iam.models import iam_backends

        iam = iam_backends[self.backend.account_id]["aws"]
        name = profile.get("Name") or str(profile.get("Arn", "")).rsplit("/", 1)[-1]
        found = iam.instance_profiles.get(name) or next((p for p in iam.instance_profiles.values() if p.arn == profile.get("Arn")), None)
        if found is None or not found.roles:
            return None
        return str(found.roles[0].arn)


def ec2_requests(action: str, params: Mapping[str, Any], region: str, caller: Caller, view: Ec2State) -> list[AuthzRequest]:
    base = base_context(caller, region)
    account = caller.account

    def arn(kind: str, rid: str, owner: str | None = None) -> str:
        return f"arn:aws:ec2:{region}:{account if owner is None else owner}:{kind}/{rid}"

    if action == "RunInstances":
        return _run_instances(params, region, account, base, view, arn)
    if action in INSTANCE_ACTIONS:
        return [
            AuthzRequest(f"ec2:{action}", arn("instance", iid), {**base, **_resource_tags(view.tags_of(iid))})
            for iid in params.get("InstanceIds", [])
        ]
    if action in ("CreateTags", "DeleteTags"):
        tags = _tag_list(params.get("Tags"))
        out = []
        for rid in params.get("Resources", []):
            kind = next((k for prefix, k in EC2_ID_TYPES.items() if rid.startswith(prefix)), "resource")
            owner = "" if kind == "image" else None
            context = {**base, **_resource_tags(view.tags_of(rid)), **_request_tags(tags)}
            out.append(AuthzRequest(f"ec2:{action}", arn(kind, rid, owner), context))
        return out
    return [AuthzRequest(f"ec2:{action}", "*", base)]


def _run_instances(
    params: Mapping[str, Any], region: str, account: str, base: Mapping[str, ContextValue], view: Ec2State, arn: Any
) -> list[AuthzRequest]:
    requested: dict[str, dict[str, str]] = {}
    for spec in params.get("TagSpecifications", []) or []:
        requested.setdefault(spec["ResourceType"], {}).update(_tag_list(spec.get("Tags")))
    launch = {**base, "ec2:InstanceType": str(params.get("InstanceType", "m1.small"))}
    created = ["instance", "volume", "network-interface"]
    if (params.get("InstanceMarketOptions") or {}).get("MarketType") == "spot":
        created.append("spot-instances-request")
    out = [AuthzRequest("ec2:RunInstances", arn(kind, "*"), {**launch, **_request_tags(requested.get(kind, {}))}) for kind in created]
    # Tags given at launch are authorized as CreateTags with ec2:CreateAction=RunInstances.
    for kind, tags in requested.items():
        context = {**base, **_request_tags(tags), "ec2:CreateAction": "RunInstances"}
        out.append(AuthzRequest("ec2:CreateTags", arn(kind, "*"), context))

    interfaces = params.get("NetworkInterfaces") or []
    subnets = {str(params["SubnetId"])} if params.get("SubnetId") else set()
    groups = set(map(str, params.get("SecurityGroupIds") or []))
    for eni in interfaces:
        if eni.get("SubnetId"):
            subnets.add(str(eni["SubnetId"]))
        groups.update(map(str, eni.get("Groups") or []))
    used: list[tuple[str, str, str | None]] = [("subnet", s, None) for s in sorted(subnets)]
    used += [("security-group", g, None) for g in sorted(groups)]
    if params.get("KeyName"):
        used.append(("key-pair", str(params["KeyName"]), None))
    if params.get("ImageId"):
        used.append(("image", str(params["ImageId"]), ""))  # public images: no account in the ARN
    group_name = (params.get("Placement") or {}).get("GroupName")
    if group_name:
        used.append(("placement-group", str(group_name), None))
    for kind, rid, owner in used:
        out.append(AuthzRequest("ec2:RunInstances", arn(kind, rid, owner), {**launch, **_resource_tags(view.tags_of(rid))}))

    role = view.instance_profile_role(params.get("IamInstanceProfile"))
    if role is not None:
        out.append(AuthzRequest("iam:PassRole", role, {**base, "iam:PassedToService": "ec2.amazonaws.com"}))
    return out


def s3_requests(action: str, resource: str, querystring: Mapping[str, list[str]], caller: Caller, region: str) -> list[AuthzRequest]:
    context = dict(base_context(caller, region))
    if "prefix" in querystring:
        context["s3:prefix"] = querystring["prefix"][0]
    name = S3_ACTION_NAMES.get(action, action)
    return [AuthzRequest(f"s3:{name}", resource, context)]
