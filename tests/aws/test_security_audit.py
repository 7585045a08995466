"""Security audit: after `up`, read back from the account (moto) what rlcloud set up and check
it against the README's security model: no Ray port reachable from outside, SSH only from
the spec's CIDRs, least-privilege node identities, private encrypted versioned bucket, and
no secret in the rendered Ray config."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from provisioner import naming
from provisioner.state import load_state
from tests.aws.conftest import AwsAccount, account_for_module
from tests.support.cli import run_cli
from tests.support.moto_server import MotoServer
from tests.support.specs import AWS

RAY_PORTS = {6379, 8265, 10001, 8076, 52365}
SPEC_CIDR = "203.0.113.0/24"


@pytest.fixture(scope="module")
def audit(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AwsAccount, dict[str, Any]]]:
    """One `up` for every check of this module."""
    folder = tmp_path_factory.mktemp("audit")
    with account_for_module(moto_server, folder) as account:
        assert run_cli("up", str(account.spec(AWS)), "--yes", "--provision-only").code == 0
        state = load_state("t-aws")
        assert state is not None
        yield account, state.refs


@pytest.fixture
def aws(audit: tuple[AwsAccount, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> AwsAccount:
    monkeypatch.setenv("RLCLOUD_HOME", str(audit[0].specs / "home"))  # the module's cluster state
    return audit[0]


@pytest.fixture
def audited(audit: tuple[AwsAccount, dict[str, Any]]) -> dict[str, Any]:
    return audit[1]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def _resources(statement: dict[str, Any]) -> list[str]:
    resource = statement["Resource"]
    return [resource] if isinstance(resource, str) else list(resource)


def _policy(aws: AwsAccount, role: str) -> dict[str, Any]:
    iam = aws.client("iam")
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []  # no AWS-managed policy
    names = iam.list_role_policies(RoleName=role)["PolicyNames"]
    assert names == ["rlcloud-node"]
    doc = iam.get_role_policy(RoleName=role, PolicyName="rlcloud-node")["PolicyDocument"]
    return json.loads(doc) if isinstance(doc, str) else doc


def test_only_ssh_from_the_spec_cidrs_reaches_the_nodes(aws: AwsAccount, audited: dict[str, Any]) -> None:
    group_id = audited["security_group_id"]
    group = aws.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    from_outside = [(p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), r["CidrIp"]) for p in group["IpPermissions"] for r in p.get("IpRanges", [])]
    assert from_outside == [("tcp", 22, 22, SPEC_CIDR)]
    assert all(not p.get("Ipv6Ranges") and not p.get("PrefixListIds") for p in group["IpPermissions"])
    members = [p for p in group["IpPermissions"] if p.get("UserIdGroupPairs")]
    assert [(p["IpProtocol"], [g["GroupId"] for g in p["UserIdGroupPairs"]]) for p in members] == [("-1", [group_id])]
    # EFA needs the group's own traffic allowed outbound too.
    assert any(p["IpProtocol"] == "-1" and group_id in [g["GroupId"] for g in p.get("UserIdGroupPairs", [])] for p in group["IpPermissionsEgress"])
    for protocol, low, high, _ in from_outside:
        assert protocol != "-1" and not any(low <= port <= high for port in RAY_PORTS)


def test_worker_identity_may_only_use_the_checkpoint_prefix(aws: AwsAccount, audited: dict[str, Any]) -> None:
    policy = _policy(aws, naming.aws_role("t-aws"))
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert all(a.startswith("s3:") and "*" not in a for a in _actions(statement))
        assert all(r in ("arn:aws:s3:::t-aws-ckpt", "arn:aws:s3:::t-aws-ckpt/runs/*") for r in _resources(statement))
    listing = next(s for s in policy["Statement"] if "s3:ListBucket" in _actions(s))
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["runs", "runs/*"]}}
    trust = aws.client("iam").get_role(RoleName=naming.aws_role("t-aws"))["Role"]["AssumeRolePolicyDocument"]
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "ec2.amazonaws.com"}]


def test_head_identity_gets_only_what_the_autoscaler_needs_scoped_to_the_cluster(aws: AwsAccount, audited: dict[str, Any]) -> None:
    policy = _policy(aws, naming.aws_head_role("t-aws"))
    actions = {a for s in policy["Statement"] for a in _actions(s)}
    assert not any(a.endswith("*") for a in actions)  # no wildcard actions
    assert {a for a in actions if a.startswith("ec2:")} == {
        "ec2:DescribeInstances",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
        "ec2:RunInstances",
        "ec2:CreateTags",
        "ec2:TerminateInstances",
    }
    assert {a for a in actions if a.startswith("iam:")} == {"iam:PassRole"}
    worker_role_arn = aws.client("iam").get_role(RoleName=naming.aws_role("t-aws"))["Role"]["Arn"]
    for statement in policy["Statement"]:
        acts, resources, condition = _actions(statement), _resources(statement), statement.get("Condition", {})
        if acts == ["iam:PassRole"]:
            assert resources == [worker_role_arn]  # never its own role, never "*"
            assert condition == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
        elif all(a.startswith("ec2:Describe") for a in acts):
            assert condition == {"StringEquals": {"aws:RequestedRegion": "us-west-2"}}  # Describe* has no resource scoping
        elif acts in (["ec2:TerminateInstances"], ["ec2:CreateTags"]) and resources == ["arn:aws:ec2:us-west-2:123456789012:instance/*"]:
            assert condition["StringEquals"] == {"ec2:ResourceTag/rlcloud-cluster": "t-aws"}
        elif acts == ["ec2:RunInstances"] and any(":instance/" in r for r in resources):
            assert condition == {"StringEquals": {"aws:RequestTag/rlcloud-cluster": "t-aws"}}  # launches must carry the tag
        elif acts == ["ec2:RunInstances"]:
            assert "*" not in resources
            assert f"arn:aws:ec2:us-west-2:*:security-group/{audited['security_group_id']}" in resources
            assert f"arn:aws:ec2:us-west-2:*:subnet/{audited['subnet_id']}" in resources
        elif acts == ["ec2:CreateTags"]:
            assert condition == {"StringEquals": {"ec2:CreateAction": "RunInstances"}}
        else:
            assert all(a.startswith("s3:") for a in acts) and all("t-aws-ckpt" in r for r in resources)
    retag = next(s for s in policy["Statement"] if s.get("Sid") == "RetagClusterInstances")
    assert retag["Condition"]["ForAllValues:StringNotEquals"]["aws:TagKeys"] == ["rlcloud-cluster", "rlcloud-managed"]


def test_each_node_type_runs_as_its_own_profile(aws: AwsAccount, audited: dict[str, Any]) -> None:
    iam = aws.client("iam")
    head = iam.get_instance_profile(InstanceProfileName=naming.aws_head_instance_profile("t-aws"))["InstanceProfile"]
    worker = iam.get_instance_profile(InstanceProfileName=naming.aws_instance_profile("t-aws"))["InstanceProfile"]
    assert [r["RoleName"] for r in head["Roles"]] == [naming.aws_head_role("t-aws")]
    assert [r["RoleName"] for r in worker["Roles"]] == [naming.aws_role("t-aws")]
    config = yaml.safe_load((naming.state_dir("t-aws") / "ray-cluster.yaml").read_text())
    types = config["available_node_types"]
    assert types["ray.head.default"]["node_config"]["IamInstanceProfile"] == {"Arn": head["Arn"]}
    assert types["learner"]["node_config"]["IamInstanceProfile"] == types["sampler"]["node_config"]["IamInstanceProfile"] == {"Arn": worker["Arn"]}


def test_the_checkpoint_bucket_is_private_encrypted_and_versioned(aws: AwsAccount, audited: dict[str, Any]) -> None:
    s3 = aws.client("s3")
    # The policy as rlcloud's clients wrote it (botocore validated the PutBucketPolicy request;
    # moto cannot evaluate its Bool condition, see tests/aws/moto_gaps.py).
    policy = json.loads(aws.gaps.bucket_policies.policies["t-aws-ckpt"])
    [deny] = policy["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(deny["Resource"]) == {"arn:aws:s3:::t-aws-ckpt", "arn:aws:s3:::t-aws-ckpt/*"}
    block = s3.get_public_access_block(Bucket="t-aws-ckpt")["PublicAccessBlockConfiguration"]
    assert block == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    rules = s3.get_bucket_encryption(Bucket="t-aws-ckpt")["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_bucket_versioning(Bucket="t-aws-ckpt")["Status"] == "Enabled"
    assert {"Key": "rlcloud-cluster", "Value": "t-aws"} in s3.get_bucket_tagging(Bucket="t-aws-ckpt")["TagSet"]


def test_keys_and_token_stay_private(aws: AwsAccount, audited: dict[str, Any]) -> None:
    state_dir = naming.state_dir("t-aws")
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((state_dir / "ssh_key").stat().st_mode) == 0o600
    token = (state_dir / "auth_token").read_text().strip()
    rendered = (state_dir / "ray-cluster.yaml").read_text()
    assert token and token not in rendered
    config = yaml.safe_load(rendered)
    assert config["auth"]["ssh_private_key"] == str(state_dir / "ssh_key")
    key = aws.client("ec2").describe_key_pairs(KeyNames=["rlcloud-t-aws"], IncludePublicKey=True)["KeyPairs"][0]
    assert key["PublicKey"].split()[:2] == (state_dir / "ssh_key.pub").read_text().split()[:2]  # only the public half left this machine
    for node_type in config["available_node_types"].values():
        node = node_type["node_config"]
        assert node["KeyName"] == "rlcloud-t-aws" and node["MetadataOptions"]["HttpTokens"] == "required"
        assert node["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
