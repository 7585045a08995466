"""The AWS answers moto cannot give, checked with botocore's Stubber (every request and
response is validated against the real service model): the Deep Learning AMI's public SSM
parameter, images with and without EnaSupport, EFA facts from DescribeInstanceTypes,
placement-group requests, and EC2 not yet knowing a fresh instance profile."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from provisioner.clouds.aws import placement
from provisioner.clouds.aws.errors import ERRORS
from provisioner.clouds.aws.images import resolve_images
from provisioner.clouds.aws.instance_types import check_node_types
from provisioner.clouds.aws.propagation import launch_request, wait_until_launchable
from provisioner.clouds.base import ProvisionContext
from provisioner.clouds.reconcile import Reconciler
from provisioner.compile.aws import node_config
from provisioner.errors import CloudError
from provisioner.images import AWS_IMAGE_ALIASES
from provisioner.progress import Progress
from provisioner.refs import AwsRefs
from provisioner.spec import load_spec
from provisioner.spec.load import load_spec_text
from provisioner.spec.resolve import resolve_nodes
from provisioner.state import ClusterState
from tests.support.specs import AWS

DLAMI_PARAM = AWS_IMAGE_ALIASES["deep-learning-base"]
DLAMI = "ami-0123456789abcdef0"


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    for key, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    ec2 = boto3.client("ec2", region_name="us-west-2")
    ssm = boto3.client("ssm", region_name="us-west-2")
    with Stubber(ec2) as ec2_stub, Stubber(ssm) as ssm_stub:
        yield (ec2, ec2_stub), (ssm, ssm_stub)
        ec2_stub.assert_no_pending_responses()
        ssm_stub.assert_no_pending_responses()


def _image(ami: str, ena: bool | None) -> dict[str, Any]:
    image = {
        "ImageId": ami,
        "Name": "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04)",
        "State": "available",
        "RootDeviceName": "/dev/sda1",
    }
    if ena is not None:
        image["EnaSupport"] = ena
    return image


def _instance_type(name: str, *, efa: bool, cards: int, ena: str = "required") -> dict[str, Any]:
    return {
        "InstanceType": name,
        "VCpuInfo": {"DefaultVCpus": 192},
        "MemoryInfo": {"SizeInMiB": 2097152},
        "NetworkInfo": {
            "EfaSupported": efa,
            "MaximumNetworkCards": cards,
            "EnaSupport": ena,
            "EfaInfo": {"MaximumEfaInterfaces": cards if efa else 0},
        },
    }


def _stub_survey(ec2_stub: Stubber, ssm_stub: Stubber, *, ena: bool | None, learner_efa: bool = True, learner_cards: int = 32) -> None:
    ssm_stub.add_response(
        "get_parameters", {"Parameters": [{"Name": DLAMI_PARAM, "Type": "String", "Value": DLAMI, "Version": 3}]}, {"Names": [DLAMI_PARAM]}
    )
    ec2_stub.add_response("describe_images", {"Images": [_image(DLAMI, ena)]}, {"ImageIds": [DLAMI]})
    types = [
        _instance_type("g6.xlarge", efa=False, cards=1),
        _instance_type("m6i.2xlarge", efa=False, cards=1),
        _instance_type("p5.48xlarge", efa=learner_efa, cards=learner_cards),
    ]
    ec2_stub.add_response("describe_instance_types", {"InstanceTypes": types}, {"InstanceTypes": ["g6.xlarge", "m6i.2xlarge", "p5.48xlarge"]})


def _nodes(tmp_path: Any) -> list[Any]:
    path = tmp_path / "aws.yaml"
    path.write_text(AWS)
    return resolve_nodes(load_spec(path))


def test_the_deep_learning_ami_alias_resolves_through_its_public_ssm_parameter(clients: Any, tmp_path: Any) -> None:
    (ec2, ec2_stub), (ssm, ssm_stub) = clients
    _stub_survey(ec2_stub, ssm_stub, ena=True)
    nodes = _nodes(tmp_path)
    images = resolve_images(ec2, ssm, [n.image for n in nodes], "us-west-2")
    assert images[""].ami_id == DLAMI and images[""].root_device == "/dev/sda1"
    cards = check_node_types(ec2, nodes, images)
    assert cards == {"p5.48xlarge": 32}


def test_an_ami_without_ena_is_refused_for_an_ena_required_type(clients: Any, tmp_path: Any) -> None:
    (ec2, ec2_stub), (ssm, ssm_stub) = clients
    for ena in (False, None):  # EnaSupport false, or absent (not enabled)
        _stub_survey(ec2_stub, ssm_stub, ena=ena)
        nodes = _nodes(tmp_path)
        images = resolve_images(ec2, ssm, [n.image for n in nodes], "us-west-2")
        with pytest.raises(CloudError) as refused:
            check_node_types(ec2, nodes, images)
        assert "requires ENA" in str(refused.value) and DLAMI in str(refused.value) and "EnaSupport false" in str(refused.value)


def test_efa_interfaces_follow_the_live_network_card_count(clients: Any, tmp_path: Any) -> None:
    (ec2, ec2_stub), (ssm, ssm_stub) = clients
    _stub_survey(ec2_stub, ssm_stub, ena=True, learner_cards=16)  # EC2 says 16 where the snapshot says 32
    nodes = _nodes(tmp_path)
    images = resolve_images(ec2, ssm, [n.image for n in nodes], "us-west-2")
    refs = AwsRefs(
        subnet_id="subnet-0123456789abcdef0",
        security_group_id="sg-0123456789abcdef0",
        images={"": DLAMI},
        network_cards=check_node_types(ec2, nodes, images),
    )
    path = tmp_path / "aws.yaml"
    learner = node_config(load_spec(path), next(n for n in nodes if n.group == "learner"), refs)
    assert [i["NetworkCardIndex"] for i in learner["NetworkInterfaces"]] == list(range(16))
    assert {i["InterfaceType"] for i in learner["NetworkInterfaces"]} == {"efa"}


def test_a_type_ec2_reports_without_efa_is_refused_where_efa_was_decided(clients: Any, tmp_path: Any) -> None:
    (ec2, ec2_stub), (ssm, ssm_stub) = clients
    _stub_survey(ec2_stub, ssm_stub, ena=True, learner_efa=False)
    nodes = _nodes(tmp_path)
    images = resolve_images(ec2, ssm, [n.image for n in nodes], "us-west-2")
    with pytest.raises(CloudError, match="p5.48xlarge has no EFA"):
        check_node_types(ec2, nodes, images)


def test_a_missing_public_parameter_names_the_alias(clients: Any) -> None:
    (ec2, _), (ssm, ssm_stub) = clients
    ssm_stub.add_response("get_parameters", {"Parameters": [], "InvalidParameters": [DLAMI_PARAM]}, {"Names": [DLAMI_PARAM]})
    with pytest.raises(CloudError, match="does not exist in us-west-2") as missing:
        resolve_images(ec2, ssm, [None], "us-west-2")
    assert "'default'" in str(missing.value) and "ami-" in str(missing.value.hint)


def _engine(apply: bool) -> Reconciler:
    ctx = ProvisionContext(spec=load_spec_text("name: c\ncloud: local\n"), state=ClusterState(name="c", cloud="aws"), progress=Progress.silent())
    return Reconciler(ctx=ctx, errors=ERRORS, apply=apply, region="us-west-2")


def test_placement_group_requests(clients: Any) -> None:
    (ec2, ec2_stub), _ = clients
    ec2_stub.add_client_error(
        "describe_placement_groups",
        "InvalidPlacementGroup.Unknown",
        "The Placement Group 'rlcloud-c' is unknown.",
        expected_params={"GroupNames": ["rlcloud-c"]},
    )
    tags = [{"Key": "rlcloud-cluster", "Value": "c"}, {"Key": "rlcloud-managed", "Value": "true"}]
    ec2_stub.add_response(
        "create_placement_group",
        {"PlacementGroup": {"GroupName": "rlcloud-c", "Strategy": "cluster", "State": "available", "Tags": tags}},
        {"GroupName": "rlcloud-c", "Strategy": "cluster", "TagSpecifications": [{"ResourceType": "placement-group", "Tags": tags}]},
    )
    engine = _engine(apply=True)
    engine.ensure(placement.declare(ec2, "c", "us-west-2"))
    assert engine.planned[-1].action == "create"
    assert [(r.kind, r.id) for r in engine.ctx.state.resources] == [("placement_group", "rlcloud-c")]
    ec2_stub.add_response(
        "describe_placement_groups",
        {"PlacementGroups": [{"GroupName": "rlcloud-c", "Strategy": "spread", "Tags": tags}]},
        {"GroupNames": ["rlcloud-c"]},
    )
    with pytest.raises(CloudError, match="strategy spread"):
        _engine(apply=False).ensure(placement.declare(ec2, "c", "us-west-2"))
    ec2_stub.add_response(
        "describe_placement_groups",
        {"PlacementGroups": [{"GroupName": "rlcloud-c", "Strategy": "cluster", "Tags": []}]},
        {"GroupNames": ["rlcloud-c"]},
    )
    with pytest.raises(CloudError, match="rlcloud did not create it"):
        _engine(apply=False).ensure(placement.declare(ec2, "c", "us-west-2"))
    ec2_stub.add_response("delete_placement_group", {}, {"GroupName": "rlcloud-c"})
    delete = placement.declare(ec2, "c", "us-west-2").delete
    assert delete is not None
    delete({"GroupName": "rlcloud-c"})


PROFILE = "arn:aws:iam::123456789012:instance-profile/rlcloud-c-head"
NOT_YET = "Value (arn:aws:iam::123456789012:instance-profile/rlcloud-c-head) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN"


def test_a_fresh_profile_is_retried_until_ec2_accepts_it(clients: Any) -> None:
    (ec2, ec2_stub), _ = clients
    request = launch_request(
        {
            "InstanceType": "m6i.2xlarge",
            "ImageId": DLAMI,
            "SubnetIds": ["subnet-0123456789abcdef0"],
            "SecurityGroupIds": ["sg-0123456789abcdef0"],
            "KeyName": "rlcloud-c",
        }
    )
    assert request["SubnetId"] == "subnet-0123456789abcdef0" and "SubnetIds" not in request
    expected = {**request, "IamInstanceProfile": {"Arn": PROFILE}, "DryRun": True}
    for _ in range(2):  # IAM propagation: EC2 does not know the profile yet
        ec2_stub.add_client_error("run_instances", "InvalidParameterValue", NOT_YET, expected_params=expected)
    ec2_stub.add_client_error("run_instances", "DryRunOperation", "Request would have succeeded, but DryRun flag is set.", expected_params=expected)
    lines: list[str] = []
    waited = wait_until_launchable(ec2, request, [PROFILE], Progress(write=lines.append))
    assert 1.4 <= waited < 10  # 0.5 s + 1 s of backoff, not Ray's fixed 2 x 15 s
    assert any("IAM propagation" in line for line in lines)


def test_a_launch_ec2_would_refuse_for_another_reason_stops_up_at_once(clients: Any) -> None:
    (ec2, ec2_stub), _ = clients
    request = launch_request({"InstanceType": "m6i.2xlarge", "ImageId": DLAMI, "SubnetIds": ["subnet-1"]})
    expected = {**request, "IamInstanceProfile": {"Arn": PROFILE}, "DryRun": True}
    ec2_stub.add_client_error("run_instances", "UnauthorizedOperation", "You are not authorized to perform this operation.", expected_params=expected)
    with pytest.raises(CloudError, match="UnauthorizedOperation") as refused:
        wait_until_launchable(ec2, request, [PROFILE], Progress.silent())
    assert "decode-authorization-message" in str(refused.value)
