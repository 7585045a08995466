"""The IAM policy documents of a cluster's node roles (pure: no AWS calls).

Two roles per cluster rather than one, because workers run the most untrusted code (RL
sampler and verification tasks execute model-generated programs):
- worker role: read/write on the checkpoint prefix, nothing else;
- head role: the same, plus exactly the EC2 calls Ray's autoscaler makes from the head, each
  scoped by the cluster tag where EC2 supports resource-level permissions, plus
  iam:PassRole on the worker role only.
No AWS-managed policy is attached (Ray's default is AmazonEC2FullAccess + AmazonS3FullAccess).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner import naming

VERSION = "2012-10-17"
TRUST_POLICY: dict[str, Any] = {
    "Version": VERSION,
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}

# EC2 calls of Ray's AWS node provider and of `ray teardown --workers-only` run on the head
# (ray/autoscaler/_private/aws/node_provider.py, config.py). Describe* calls support no
# resource-level permissions, so they are limited by region instead.
HEAD_DESCRIBE_ACTIONS = [
    "ec2:DescribeInstances",  # non_terminated_nodes, _get_node
    "ec2:DescribeInstanceTypes",  # fillout_available_node_types_resources
    "ec2:DescribeSubnets",  # bootstrap_aws._configure_subnet (ray teardown on the head)
    "ec2:DescribeSecurityGroups",  # bootstrap_aws._get_vpc_id_of_sg
]


@dataclass(frozen=True)
class Checkpoints:
    bucket: str
    prefix: str  # "" for the whole bucket


@dataclass(frozen=True)
class LaunchScope:
    """The ids the head may launch workers with (all created or validated by `up`)."""

    partition: str
    region: str
    account: str
    cluster: str
    subnet_id: str
    security_group_id: str
    key_name: str
    placement_group: str | None
    worker_role_arn: str


def checkpoint_statements(partition: str, ckpt: Checkpoints) -> list[dict[str, Any]]:
    bucket_arn = f"arn:{partition}:s3:::{ckpt.bucket}"
    objects = f"{bucket_arn}/{ckpt.prefix}/*" if ckpt.prefix else f"{bucket_arn}/*"
    listing: dict[str, Any] = {"Sid": "ListCheckpointPrefix", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn}
    if ckpt.prefix:
        listing["Condition"] = {"StringLike": {"s3:prefix": [ckpt.prefix, f"{ckpt.prefix}/*"]}}
    return [
        listing,
        {"Sid": "LocateCheckpointBucket", "Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": bucket_arn},
        {
            "Sid": "ReadWriteCheckpoints",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
            "Resource": objects,
        },
    ]


def autoscaler_statements(scope: LaunchScope) -> list[dict[str, Any]]:
    def ec2_arn(resource: str, *, account: str | None = None) -> str:
        return f"arn:{scope.partition}:ec2:{scope.region}:{scope.account if account is None else account}:{resource}"

    cluster_tag = {f"aws:RequestTag/{naming.TAG_KEY}": scope.cluster}
    created_at_launch = [ec2_arn("instance/*"), ec2_arn("volume/*"), ec2_arn("network-interface/*"), ec2_arn("spot-instances-request/*")]
    # What a launch may use: only this cluster's subnet, group, key and placement group.
    launch_with = [
        ec2_arn(f"subnet/{scope.subnet_id}", account="*"),
        ec2_arn(f"security-group/{scope.security_group_id}", account="*"),
        ec2_arn(f"key-pair/{scope.key_name}"),
        f"arn:{scope.partition}:ec2:{scope.region}::image/*",
    ]
    if scope.placement_group:
        launch_with.append(ec2_arn(f"placement-group/{scope.placement_group}"))
    return [
        {
            "Sid": "DescribeInRegion",
            "Effect": "Allow",
            "Action": HEAD_DESCRIBE_ACTIONS,
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": scope.region}},
        },
        {
            # Launches must tag what they create with the cluster tag (the compiled config does).
            "Sid": "LaunchTaggedWorkers",
            "Effect": "Allow",
            "Action": "ec2:RunInstances",
            "Resource": created_at_launch,
            "Condition": {"StringEquals": cluster_tag},
        },
        {"Sid": "LaunchWithClusterResources", "Effect": "Allow", "Action": "ec2:RunInstances", "Resource": launch_with},
        {
            "Sid": "TagAtLaunch",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": created_at_launch,
            "Condition": {"StringEquals": {"ec2:CreateAction": "RunInstances"}},
        },
        {
            # Ray re-tags its nodes (status, launch hash); it may not move one out of the cluster.
            "Sid": "RetagClusterInstances",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": ec2_arn("instance/*"),
            "Condition": {
                "StringEquals": {f"ec2:ResourceTag/{naming.TAG_KEY}": scope.cluster},
                "ForAllValues:StringNotEquals": {"aws:TagKeys": [naming.TAG_KEY, naming.MANAGED_TAG_KEY]},
            },
        },
        {
            "Sid": "TerminateClusterInstances",
            "Effect": "Allow",
            "Action": "ec2:TerminateInstances",
            "Resource": ec2_arn("instance/*"),
            "Condition": {"StringEquals": {f"ec2:ResourceTag/{naming.TAG_KEY}": scope.cluster}},
        },
        {
            "Sid": "PassWorkerRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": scope.worker_role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        },
    ]


def worker_policy(partition: str, ckpt: Checkpoints | None) -> dict[str, Any] | None:
    """None when the cluster has no checkpoint bucket: the worker role then may do nothing."""
    if ckpt is None:
        return None
    return {"Version": VERSION, "Statement": checkpoint_statements(partition, ckpt)}


def head_policy(scope: LaunchScope, ckpt: Checkpoints | None) -> dict[str, Any]:
    statements = autoscaler_statements(scope)
    if ckpt is not None:
        statements += checkpoint_statements(scope.partition, ckpt)
    return {"Version": VERSION, "Statement": statements}
