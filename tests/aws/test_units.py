"""Single AWS modules on their own: lazy boto3, error messages, retry settings, network choice
(in-process moto), policy documents, and the Ray tag names the sweep relies on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError, NoCredentialsError
from moto import mock_aws

from provisioner.clouds.aws.errors import ERRORS
from provisioner.clouds.aws.network import resolve_network
from provisioner.clouds.aws.policies import Checkpoints, checkpoint_statements, worker_policy
from provisioner.clouds.aws.session import MAX_ATTEMPTS, AwsSession
from provisioner.clouds.errors import (
    AlreadyExists,
    AuthFailed,
    CapacityUnavailable,
    InUse,
    Kind,
    NotFound,
    NotYetConsistent,
    QuotaExceeded,
    Throttled,
)
from provisioner.spec import load_spec
from tests.support.specs import AWS

REPO = Path(__file__).resolve().parents[2]


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_boto3_is_imported_only_when_aws_is_used() -> None:
    assert _run("import sys, provisioner.clouds.aws, provisioner.compile.aws; print('boto3' in sys.modules)") == "False"


def test_a_missing_boto3_is_a_friendly_error() -> None:
    out = _run(
        "import sys; sys.modules['boto3'] = None\n"
        "from provisioner.drivers import driver_for\n"
        "from provisioner.errors import MissingDependencyError\n"
        "try:\n    driver_for('aws').make_backend()\nexcept MissingDependencyError as exc:\n    print(exc)"
    )
    assert out == "boto3 is not installed\n  hint: pip install 'rlcloud[aws]'"


def _client_error(code: str, message: str = "m") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Op")


@pytest.mark.parametrize(
    ("code", "advice"),
    [
        ("UnauthorizedOperation", "may not do this"),
        ("AccessDenied", "may not do this"),
        ("ExpiredToken", "invalid or expired"),
        ("InsufficientInstanceCapacity", "another `zone`"),
        ("VcpuLimitExceeded", "Service Quotas"),
        ("TooManyBuckets", "Service Quotas"),
        ("RequestLimitExceeded", "throttling"),
        ("SomethingElse", "re-run `rlcloud up`"),
    ],
)
def test_aws_errors_say_what_failed_in_aws_words_and_what_to_do(code: str, advice: str) -> None:
    error = ERRORS.translate(_client_error(code, "AWS's own words"), "creating security group rlcloud-x")
    assert error is not None
    assert error.exit_code == 1
    assert str(error).startswith(f"creating security group rlcloud-x: AWS said {code}: AWS's own words")
    assert advice in (error.hint or "") and "rlcloud down" in (error.hint or "")


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        ("InvalidGroup.NotFound", "m", NotFound),
        ("NoSuchEntity", "m", NotFound),
        ("NoSuchBucket", "m", NotFound),
        ("InvalidGroup.Duplicate", "m", AlreadyExists),
        ("EntityAlreadyExists", "m", AlreadyExists),
        ("BucketAlreadyOwnedByYou", "m", AlreadyExists),
        ("DependencyViolation", "m", InUse),
        ("DeleteConflict", "m", InUse),
        ("BucketNotEmpty", "m", InUse),
        ("InvalidParameterValue", "Value (p) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name", NotYetConsistent),
        ("InvalidParameterValue", "Value (x) for parameter instanceType is invalid", None),
        ("VcpuLimitExceeded", "m", QuotaExceeded),
        ("InsufficientInstanceCapacity", "m", CapacityUnavailable),
        ("AuthFailure", "m", AuthFailed),
        ("UnauthorizedOperation", "m", AuthFailed),
        ("AccessDenied", "m", AuthFailed),
        ("Throttling", "m", Throttled),
        ("RequestLimitExceeded", "m", Throttled),  # a *LimitExceeded that is throttling, not a quota
    ],
)
def test_aws_codes_map_to_one_kind(code: str, message: str, kind: Kind | None) -> None:
    # The reconciler decides by these kinds (retry InUse / NotYetConsistent / Throttled,
    # NotFound on read = absent), so each botocore code the AWS calls answer is pinned here.
    assert ERRORS.kind_of(_client_error(code, message)) is kind


def test_no_credentials_is_a_cloud_error() -> None:
    error = ERRORS.translate(NoCredentialsError(), "looking up key pair")
    assert error is not None
    assert "no AWS credentials" in error.message and "aws configure" in (error.hint or "")


def test_clients_retry_throttling_in_standard_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    client = AwsSession(region="eu-west-1").ec2
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.config.retries["mode"] == "standard" and client.meta.config.retries["total_max_attempts"] == MAX_ATTEMPTS


def test_ray_tag_names_are_rays() -> None:
    from ray.autoscaler.tags import NODE_KIND_HEAD, TAG_RAY_CLUSTER_NAME, TAG_RAY_NODE_KIND

    from provisioner.clouds.aws.inventory import RAY_CLUSTER_TAG, RAY_HEAD_KIND, RAY_NODE_KIND_TAG

    assert (RAY_CLUSTER_TAG, RAY_NODE_KIND_TAG, RAY_HEAD_KIND) == (TAG_RAY_CLUSTER_NAME, TAG_RAY_NODE_KIND, NODE_KIND_HEAD)


def test_checkpoint_access_without_a_prefix_is_the_whole_bucket_and_none_without_a_bucket() -> None:
    statements = checkpoint_statements("aws", Checkpoints(bucket="b", prefix=""))
    assert "Condition" not in statements[0] and statements[2]["Resource"] == "arn:aws:s3:::b/*"
    assert worker_policy("aws", None) is None  # no bucket: the worker role may do nothing at all


@pytest.fixture
def in_process_aws(monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for key, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-west-2"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield boto3.client("ec2", region_name="us-west-2")


def _spec(tmp_path: Path, network: str = "") -> object:
    path = tmp_path / "aws.yaml"
    path.write_text(AWS.replace("  placement: cluster\n", "  placement: cluster\n" + network))
    return load_spec(path)


def test_the_default_vpc_and_a_public_subnet_in_the_zone_are_picked(in_process_aws: object, tmp_path: Path) -> None:
    ec2 = in_process_aws
    net = resolve_network(ec2, _spec(tmp_path), use_internal_ips=False)  # type: ignore[arg-type]
    subnet = ec2.describe_subnets(SubnetIds=[net.subnet_id])["Subnets"][0]  # type: ignore[attr-defined]
    assert net.vpc_is_default and net.subnet_chosen and subnet["AvailabilityZone"] == "us-west-2b"


def test_a_subnet_outside_the_zone_or_without_public_ips_is_refused(in_process_aws: object, tmp_path: Path) -> None:
    from provisioner.errors import CloudError

    ec2 = in_process_aws
    subnets = {s["AvailabilityZone"]: s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]}  # type: ignore[attr-defined]
    with pytest.raises(CloudError, match="is in us-west-2a, but the spec's zone is us-west-2b"):
        resolve_network(ec2, _spec(tmp_path, f"  subnet_id: {subnets['us-west-2a']}\n"), use_internal_ips=False)  # type: ignore[arg-type]
    ec2.modify_subnet_attribute(SubnetId=subnets["us-west-2b"], MapPublicIpOnLaunch={"Value": False})  # type: ignore[attr-defined]
    with pytest.raises(CloudError, match="gives instances no public IP"):
        resolve_network(ec2, _spec(tmp_path, f"  subnet_id: {subnets['us-west-2b']}\n"), use_internal_ips=False)  # type: ignore[arg-type]
    assert resolve_network(ec2, _spec(tmp_path, f"  subnet_id: {subnets['us-west-2b']}\n"), use_internal_ips=True).subnet_id == subnets["us-west-2b"]  # type: ignore[arg-type]


def test_a_region_without_a_default_vpc_asks_for_one(in_process_aws: object, tmp_path: Path) -> None:
    from provisioner.errors import CloudError

    ec2 = in_process_aws
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]  # type: ignore[attr-defined]
    for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]:  # type: ignore[attr-defined]
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])  # type: ignore[attr-defined]
    ec2.delete_vpc(VpcId=vpc)  # type: ignore[attr-defined]
    with pytest.raises(CloudError, match="no default VPC") as missing:
        resolve_network(ec2, _spec(tmp_path), use_internal_ips=False)  # type: ignore[arg-type]
    assert "network.vpc_id" in (missing.value.hint or "")
