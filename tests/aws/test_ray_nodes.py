"""Ray's own AWS code against what `up --provision-only` rendered, on moto server: Ray's
bootstrap creates nothing of its own, Ray's node provider launches the head, an EFA learner
in the placement group and spot samplers as the autoscaler would, and `down` then leaves
nothing of the cluster in any service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from provisioner import naming
from provisioner.clouds.aws.lifecycle import AwsProvisioner
from provisioner.clouds.base import ProvisionContext
from provisioner.progress import Progress
from provisioner.spec import load_spec
from provisioner.state import load_state
from tests.aws.aws_api import is_mutating
from tests.aws.conftest import AwsAccount
from tests.aws.leftovers import instance_ids, leftovers
from tests.support.cli import run_cli
from tests.support.specs import AWS


@pytest.fixture
def ray_calls() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every call Ray's AWS code makes (it uses boto3's default session), with its parameters."""
    import boto3
    from ray.autoscaler._private.aws import config as ray_config
    from ray.autoscaler._private.aws import utils as ray_utils

    boto3.setup_default_session()
    for cached in (ray_utils.resource_cache, ray_utils.client_cache, ray_config._get_subnets_or_die):
        cached.cache_clear()  # clients made before this test would not carry the hook
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, dict(params)))

    events = boto3.DEFAULT_SESSION.events
    events.register("before-parameter-build", record, unique_id="rlcloud-test-ray-calls")
    yield calls
    events.unregister("before-parameter-build", unique_id="rlcloud-test-ray-calls")
    for cached in (ray_utils.resource_cache, ray_utils.client_cache, ray_config._get_subnets_or_die):
        cached.cache_clear()


def _launch(provider: Any, config: dict[str, Any], node_type: str, kind: str, count: int) -> list[str]:
    from ray.autoscaler.tags import TAG_RAY_LAUNCH_CONFIG, TAG_RAY_NODE_KIND, TAG_RAY_NODE_NAME, TAG_RAY_NODE_STATUS, TAG_RAY_USER_NODE_TYPE

    tags = {
        TAG_RAY_NODE_KIND: kind,
        TAG_RAY_NODE_NAME: f"ray-t-aws-{kind}",
        TAG_RAY_USER_NODE_TYPE: node_type,
        TAG_RAY_LAUNCH_CONFIG: "hash",
        TAG_RAY_NODE_STATUS: "uninitialized",
    }
    created = provider.create_node(config["available_node_types"][node_type]["node_config"], tags, count)
    return list(created)


def test_ray_launches_with_our_resources_and_down_sweeps_everything(aws: AwsAccount, ray_calls: list[tuple[str, dict[str, Any]]]) -> None:
    from ray.autoscaler._private.aws.config import bootstrap_aws
    from ray.autoscaler._private.aws.node_provider import AWSNodeProvider

    spec_path = aws.spec(AWS)
    assert run_cli("up", str(spec_path), "--yes", "--provision-only").code == 0
    rendered = yaml.safe_load((naming.state_dir("t-aws") / "ray-cluster.yaml").read_text())
    refs = load_state("t-aws").refs  # type: ignore[union-attr]

    # Ray's bootstrap (what `ray up` runs first) takes our key, group, subnet and profiles as they are.
    config = bootstrap_aws(rendered)
    assert [op for op, _ in ray_calls if is_mutating(op)] == [], "Ray's bootstrap created something of its own"
    assert config["auth"]["ssh_private_key"] == str(naming.state_dir("t-aws") / "ssh_key")
    iam = aws.client("iam")
    assert sorted(p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]) == ["rlcloud-t-aws-head", "rlcloud-t-aws-node"]
    assert [k["KeyName"] for k in aws.client("ec2").describe_key_pairs()["KeyPairs"]] == ["rlcloud-t-aws"]

    # Ray's node provider launches nodes the way the autoscaler does.
    provider = AWSNodeProvider(config["provider"], "t-aws")
    head = _launch(provider, config, "ray.head.default", "head", 1)
    learners = _launch(provider, config, "learner", "worker", 1)
    # (moto launches MinCount instances, AWS up to MaxCount: one call per sampler)
    samplers = _launch(provider, config, "sampler", "worker", 1) + _launch(provider, config, "sampler", "worker", 1)
    launches = [params for op, params in ray_calls if op == "RunInstances"]
    assert len(launches) == 4
    head_req, learner_req, sampler_req, _ = launches
    assert head_req["IamInstanceProfile"] == {"Arn": refs["head_instance_profile"]}
    assert learner_req["IamInstanceProfile"] == sampler_req["IamInstanceProfile"] == {"Arn": refs["instance_profile"]}
    interfaces = learner_req["NetworkInterfaces"]
    assert len(interfaces) == 32 and {i["InterfaceType"] for i in interfaces} == {"efa"}  # p5.48xlarge: 32 cards
    assert {i["SubnetId"] for i in interfaces} == {refs["subnet_id"]} and {tuple(i["Groups"]) for i in interfaces} == {(refs["security_group_id"],)}
    assert "SecurityGroupIds" not in learner_req and learner_req["Placement"] == {"GroupName": "rlcloud-t-aws"}
    assert sampler_req["InstanceMarketOptions"]["MarketType"] == "spot" and sampler_req["SecurityGroupIds"] == [refs["security_group_id"]]
    for request in launches:
        tagged = {spec["ResourceType"] for spec in request["TagSpecifications"] if {"Key": "rlcloud-cluster", "Value": "t-aws"} in spec["Tags"]}
        assert {"instance", "volume", "network-interface"} <= tagged
        assert request["KeyName"] == "rlcloud-t-aws" and request["MetadataOptions"]["HttpTokens"] == "required"
    assert "spot-instances-request" in {s["ResourceType"] for s in sampler_req["TagSpecifications"]}

    live = instance_ids(aws, "t-aws")
    assert set(live) == set(head + learners + samplers)
    ctx = ProvisionContext(spec=load_spec(spec_path), state=load_state("t-aws"), progress=Progress.silent())  # type: ignore[arg-type]
    assert AwsProvisioner().head_address(ctx) == live[head[0]]["PrivateIpAddress"]  # EFA cluster: private IPs

    down = run_cli("down", str(spec_path), "--yes", "--purge-storage")
    assert down.code == 0, down.text
    # A head is running although our state says only "provisioned" (Ray was started outside
    # `rlcloud up`), so down runs Ray's own teardown first; the sweep then finds nothing alive.
    assert "stopping Ray (`ray down`)" in down.text
    assert {i["State"]["Name"] for i in instance_ids(aws, "t-aws").values()} == {"terminated"}
    assert leftovers(aws, "t-aws") == []
    assert AwsProvisioner().head_address(ctx) is None
