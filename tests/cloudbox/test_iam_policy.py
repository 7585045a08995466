"""The box's IAM evaluation (tests/cloudbox/aws/iam_policy.py) and the authorization requests
it is given (authz.py), checked against AWS's documented semantics and against rlcloud's own
node policies: what the head's role may launch, tag and terminate, and what the workers' may
touch in S3. Pure functions: no moto, no root."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.clouds.aws.policies import Checkpoints, LaunchScope, head_policy, worker_policy
from tests.cloudbox.aws import authz
from tests.cloudbox.aws.iam_policy import AuthzRequest, Decision, ResourcePolicy, UnsupportedCondition, evaluate, wildcard_match

REGION, ACCOUNT, CLUSTER = "us-west-2", "123456789012", "rl-box"
SCOPE = LaunchScope(
    partition="aws",
    region=REGION,
    account=ACCOUNT,
    cluster=CLUSTER,
    subnet_id="subnet-0aaa",
    security_group_id="sg-0bbb",
    key_name=f"rlcloud-{CLUSTER}",
    placement_group=f"rlcloud-{CLUSTER}",
    worker_role_arn=f"arn:aws:iam::{ACCOUNT}:role/rlcloud-{CLUSTER}-node",
)
CKPT = Checkpoints(bucket="rl-box-checkpoints", prefix="runs")
HEAD = head_policy(SCOPE, CKPT)
WORKER = worker_policy("aws", CKPT)
CALLER = authz.Caller(
    arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/rlcloud-{CLUSTER}-head/i-1",
    account=ACCOUNT,
    role_arn=f"arn:aws:iam::{ACCOUNT}:role/rlcloud-{CLUSTER}-head",
)


class FakeEc2View:
    """authz.Ec2State with the tags and profile a test gives."""

    def __init__(self, tags: dict[str, dict[str, str]], profile_role: str | None = SCOPE.worker_role_arn) -> None:
        self._tags = tags
        self._role = profile_role

    def tags_of(self, resource_id: str) -> dict[str, str]:
        return dict(self._tags.get(resource_id, {}))

    def instance_profile_role(self, profile: Any) -> str | None:
        return self._role if profile else None


def _launch(**overrides: Any) -> dict[str, Any]:
    tags = [{"Key": "rlcloud-cluster", "Value": CLUSTER}, {"Key": "ray-node-type", "Value": "worker"}]
    params: dict[str, Any] = {
        "ImageId": "ami-785db401",
        "InstanceType": "g6.xlarge",
        "KeyName": SCOPE.key_name,
        "SubnetId": SCOPE.subnet_id,
        "SecurityGroupIds": [SCOPE.security_group_id],
        "IamInstanceProfile": {"Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/rlcloud-{CLUSTER}-node"},
        "TagSpecifications": [{"ResourceType": kind, "Tags": tags} for kind in ("instance", "volume", "network-interface")],
    }
    params.update(overrides)
    return params


def _decide(action: str, params: dict[str, Any], view: authz.Ec2State | None = None) -> Decision:
    requests = authz.ec2_requests(action, params, REGION, CALLER, view or FakeEc2View({}))
    decisions = [evaluate([HEAD], r) for r in requests]
    return next((d for d in decisions if d is not Decision.ALLOW), Decision.ALLOW)


def test_wildcards_match_as_iam_does() -> None:
    assert wildcard_match("ec2:Describe*", "ec2:DescribeInstances")
    assert wildcard_match("EC2:describe*", "ec2:DescribeInstances", ignore_case=True)
    assert not wildcard_match("arn:aws:s3:::b/runs/*", "arn:aws:s3:::b/other/x")
    assert wildcard_match("arn:aws:s3:::b/run?/*", "arn:aws:s3:::b/runs/x")
    assert not wildcard_match("arn:aws:ec2:*:instance/*", "*")  # a literal "*" resource is not every ARN


def test_explicit_deny_wins_and_nothing_allowed_is_implicit_deny() -> None:
    allow = {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    deny = {"Statement": [{"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"}]}
    assert evaluate([allow], AuthzRequest("s3:GetObject", "arn:aws:s3:::b/k")) is Decision.ALLOW
    assert evaluate([allow, deny], AuthzRequest("s3:DeleteObject", "arn:aws:s3:::b/k")) is Decision.EXPLICIT_DENY
    assert evaluate([deny], AuthzRequest("s3:GetObject", "arn:aws:s3:::b/k")) is Decision.IMPLICIT_DENY
    not_action = {"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}
    assert evaluate([not_action], AuthzRequest("iam:CreateUser", "*")) is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    ("condition", "context", "expected"),
    [
        ({"StringEquals": {"aws:RequestTag/team": "a"}}, {"aws:RequestTag/team": "a"}, True),
        ({"StringEquals": {"aws:RequestTag/team": "a"}}, {}, False),  # missing key: no match
        ({"StringNotEquals": {"aws:RequestTag/team": "a"}}, {}, True),  # ... unless negated
        ({"StringEqualsIfExists": {"aws:RequestTag/team": "a"}}, {}, True),
        ({"StringLike": {"s3:prefix": ["runs", "runs/*"]}}, {"s3:prefix": "runs/demo/x"}, True),
        ({"StringLike": {"s3:prefix": ["runs", "runs/*"]}}, {"s3:prefix": "other"}, False),
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "true"}, False),
        ({"Bool": {"aws:SecureTransport": False}}, {"aws:SecureTransport": "false"}, True),
        ({"ForAllValues:StringNotEquals": {"aws:TagKeys": ["rlcloud-cluster"]}}, {"aws:TagKeys": ["ray-node-status"]}, True),
        ({"ForAllValues:StringNotEquals": {"aws:TagKeys": ["rlcloud-cluster"]}}, {"aws:TagKeys": ["x", "rlcloud-cluster"]}, False),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}, {}, False),
        ({"Null": {"aws:RequestTag/team": "true"}}, {}, True),
        ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "10.1.2.3"}, True),
        ({"StringEquals": {"AWS:requestedregion": "us-west-2"}}, {"aws:RequestedRegion": "us-west-2"}, True),  # keys ignore case
    ],
)
def test_conditions(condition: dict[str, Any], context: dict[str, Any], expected: bool) -> None:
    policy = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition}]}
    assert (evaluate([policy], AuthzRequest("ec2:RunInstances", "*", context)) is Decision.ALLOW) is expected


def test_an_operator_the_box_does_not_know_is_refused_loudly() -> None:
    policy = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}}}]}
    with pytest.raises(UnsupportedCondition):
        evaluate([policy], AuthzRequest("ec2:RunInstances", "*"))


def test_the_head_may_launch_tagged_workers_with_the_clusters_resources_only() -> None:
    assert _decide("RunInstances", _launch()) is Decision.ALLOW
    assert _decide("RunInstances", _launch(Placement={"GroupName": SCOPE.placement_group})) is Decision.ALLOW
    spot = _launch(InstanceMarketOptions={"MarketType": "spot"})
    spot["TagSpecifications"].append({"ResourceType": "spot-instances-request", "Tags": [{"Key": "rlcloud-cluster", "Value": CLUSTER}]})
    assert _decide("RunInstances", spot) is Decision.ALLOW
    # Untagged, or tagged for another cluster, or with another subnet / group / key /
    # placement group, or passing another role: refused.
    assert _decide("RunInstances", _launch(TagSpecifications=[])) is Decision.IMPLICIT_DENY
    other = [{"ResourceType": k, "Tags": [{"Key": "rlcloud-cluster", "Value": "other"}]} for k in ("instance", "volume", "network-interface")]
    assert _decide("RunInstances", _launch(TagSpecifications=other)) is Decision.IMPLICIT_DENY
    assert _decide("RunInstances", _launch(SubnetId="subnet-0ccc")) is Decision.IMPLICIT_DENY
    assert _decide("RunInstances", _launch(SecurityGroupIds=["sg-0ddd"])) is Decision.IMPLICIT_DENY
    assert _decide("RunInstances", _launch(KeyName="someone-elses")) is Decision.IMPLICIT_DENY
    assert _decide("RunInstances", _launch(Placement={"GroupName": "other-pg"})) is Decision.IMPLICIT_DENY
    admin_role = FakeEc2View({}, profile_role=f"arn:aws:iam::{ACCOUNT}:role/admin")
    assert _decide("RunInstances", _launch(), admin_role) is Decision.IMPLICIT_DENY


def test_the_head_terminates_and_retags_only_the_clusters_instances() -> None:
    view = FakeEc2View({"i-ours": {"rlcloud-cluster": CLUSTER}, "i-theirs": {"rlcloud-cluster": "other"}})
    assert _decide("TerminateInstances", {"InstanceIds": ["i-ours"]}, view) is Decision.ALLOW
    assert _decide("TerminateInstances", {"InstanceIds": ["i-ours", "i-theirs"]}, view) is Decision.IMPLICIT_DENY
    assert _decide("StopInstances", {"InstanceIds": ["i-ours"]}, view) is Decision.IMPLICIT_DENY
    status = {"Resources": ["i-ours"], "Tags": [{"Key": "ray-node-status", "Value": "up-to-date"}]}
    assert _decide("CreateTags", status, view) is Decision.ALLOW
    assert _decide("CreateTags", {**status, "Resources": ["i-theirs"]}, view) is Decision.IMPLICIT_DENY
    move = {"Resources": ["i-ours"], "Tags": [{"Key": "rlcloud-cluster", "Value": "other"}]}
    assert _decide("CreateTags", move, view) is Decision.IMPLICIT_DENY  # may not move it out of the cluster
    assert _decide("DescribeInstances", {}) is Decision.ALLOW
    assert _decide("DeleteSecurityGroup", {"GroupId": "sg-0bbb"}) is Decision.IMPLICIT_DENY


def test_the_workers_may_use_the_checkpoint_prefix_and_nothing_else() -> None:
    worker = authz.Caller(arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/rlcloud-{CLUSTER}-node/i-2", account=ACCOUNT)

    def decide(action: str, resource: str, query: dict[str, list[str]] | None = None) -> Decision:
        (request,) = authz.s3_requests(action, resource, query or {}, worker, REGION)
        return evaluate([WORKER], request)

    assert decide("PutObject", "arn:aws:s3:::rl-box-checkpoints/runs/demo/data/x") is Decision.ALLOW
    assert decide("GetObject", "arn:aws:s3:::rl-box-checkpoints/runs/demo/manifests/y.json") is Decision.ALLOW
    assert decide("ListBucket", "arn:aws:s3:::rl-box-checkpoints", {"prefix": ["runs/demo/"]}) is Decision.ALLOW
    assert decide("ListBucket", "arn:aws:s3:::rl-box-checkpoints") is Decision.IMPLICIT_DENY  # no prefix: whole bucket
    assert decide("HeadBucket", "arn:aws:s3:::rl-box-checkpoints") is Decision.IMPLICIT_DENY
    assert decide("PutObject", "arn:aws:s3:::rl-box-checkpoints/elsewhere/x") is Decision.IMPLICIT_DENY
    assert decide("PutObject", "arn:aws:s3:::another-bucket/runs/x") is Decision.IMPLICIT_DENY
    assert decide("DeleteBucket", "arn:aws:s3:::rl-box-checkpoints") is Decision.IMPLICIT_DENY
    view = FakeEc2View({"i-ours": {"rlcloud-cluster": CLUSTER}})
    for action, params in (("DescribeInstances", {}), ("RunInstances", _launch()), ("TerminateInstances", {"InstanceIds": ["i-ours"]})):
        requests = authz.ec2_requests(action, params, REGION, worker, view)
        assert requests and any(evaluate([WORKER], r) is not Decision.ALLOW for r in requests)


def test_a_tls_only_bucket_policy_denies_plain_http_and_allows_tls() -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
    }
    everyone = ResourcePolicy(policy, caller_arns=("*",), account=ACCOUNT)
    allow = {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    over_tls = AuthzRequest("s3:GetObject", "arn:aws:s3:::b/k", {"aws:SecureTransport": "true"})
    over_http = AuthzRequest("s3:GetObject", "arn:aws:s3:::b/k", {"aws:SecureTransport": "false"})
    assert evaluate([allow], over_tls, everyone) is Decision.ALLOW
    assert evaluate([allow], over_http, everyone) is Decision.EXPLICIT_DENY
