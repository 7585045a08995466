"""Compilers: every config passes Ray's own validation and carries the networking, identity,
placement and security settings the spec asks for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.api import render, templates
from provisioner.catalog import get_catalog
from provisioner.compile import CompileContext, find_pending
from provisioner.drivers import compile_cluster, driver_for
from provisioner.ray_validate import validate_ray_config
from provisioner.refs import AwsRefs
from provisioner.spec import load_spec_text
from tests.support.specs import AWS, AZURE, GCP, LOCAL

CTX = CompileContext(state_dir=Path("/home/op/.rlcloud/clusters/x"))


def compiled(text: str, refs: Any = None) -> dict[str, Any]:
    return compile_cluster(load_spec_text(text), CTX, refs)


@pytest.mark.parametrize("name", [t.name for t in templates()])
def test_every_template_renders_and_ray_validates_it(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(next(t.text for t in templates() if t.name == name))
    result = render(path)  # runs prepare_config + validate_config
    assert result.config["cluster_name"] == result.spec.name
    text = result.to_yaml(str(path))
    assert yaml.safe_load(text) == result.config
    if result.spec.cloud == "aws":
        assert result.pending and all("{{rlcloud:" in p for p in result.pending)


def test_aws_config() -> None:
    refs = AwsRefs(
        security_group_id="sg-0123456789abcdef0",
        subnet_id="subnet-0123456789abcdef0",
        instance_profile="arn:aws:iam::123456789012:instance-profile/rlcloud-t-aws-node",
        images={"": "ami-0123456789abcdef0"},
    )
    config = compiled(AWS, refs)
    validate_ray_config(config)
    assert find_pending(config) == []
    assert config["provider"]["cache_stopped_nodes"] is False
    assert config["provider"]["use_internal_ips"] is True  # the learner has EFA
    types = config["available_node_types"]
    assert set(types) == {"ray.head.default", "learner", "sampler"}
    for node_type in types.values():
        nc = node_type["node_config"]
        assert nc["IamInstanceProfile"] == {"Arn": refs.instance_profile}  # workers write checkpoints too
        assert nc["KeyName"] == "rlcloud-t-aws"
        assert {"Key": "rlcloud-cluster", "Value": "t-aws"} in nc["TagSpecifications"][0]["Tags"]
        assert nc["MetadataOptions"]["HttpTokens"] == "required"
        assert nc["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    learner = types["learner"]["node_config"]
    interfaces = learner["NetworkInterfaces"]
    assert len(interfaces) == 32  # p5.48xlarge: one EFA interface per network card
    assert {i["InterfaceType"] for i in interfaces} == {"efa"}
    assert {i["SubnetId"] for i in interfaces} == {refs.subnet_id}
    assert [i["NetworkCardIndex"] for i in interfaces] == list(range(32))
    assert interfaces[0]["DeviceIndex"] == 0 and {i["DeviceIndex"] for i in interfaces[1:]} == {1}
    assert "SubnetIds" not in learner and "SecurityGroupIds" not in learner  # Ray forbids both
    assert learner["Placement"] == {"GroupName": "rlcloud-t-aws"}
    assert "InstanceMarketOptions" not in learner
    sampler = types["sampler"]["node_config"]
    assert sampler["InstanceMarketOptions"]["MarketType"] == "spot"
    assert sampler["SecurityGroupIds"] == [refs.security_group_id] and "Placement" not in sampler
    head = types["ray.head.default"]
    assert "InstanceMarketOptions" not in head["node_config"] and head["max_workers"] == 0
    assert types["learner"]["resources"] == {"CPU": 192, "GPU": 8}


def test_aws_without_efa_reaches_nodes_by_public_ip_and_user_sg_is_kept() -> None:
    text = AWS.replace("placement: cluster", "placement: cluster\n  fast_networking: off\n  security_group_id: sg-0aaaaaaaaaaaaaaaa")
    config = compiled(text)
    assert config["provider"]["use_internal_ips"] is False
    for node_type in config["available_node_types"].values():
        assert node_type["node_config"]["SecurityGroupIds"] == ["sg-0aaaaaaaaaaaaaaaa"]
        assert "NetworkInterfaces" not in node_type["node_config"]


def test_gcp_config() -> None:
    config = compiled(GCP)
    validate_ray_config(config)
    types = config["available_node_types"]
    learner = types["learner"]["node_config"]
    assert learner["networkInterfaces"][0]["nicType"] == "GVNIC"
    assert learner["scheduling"]["onHostMaintenance"] == "TERMINATE"
    assert learner["guestAccelerators"][0]["acceleratorCount"] == 8
    assert learner["guestAccelerators"][0]["acceleratorType"].endswith("/acceleratorTypes/nvidia-h100-80gb")
    assert learner["resourcePolicies"] == ["projects/my-rl-project/regions/us-central1/resourcePolicies/rlcloud-t-gcp-compact"]
    sampler = types["sampler"]["node_config"]
    assert sampler["scheduling"]["provisioningModel"] == "SPOT" and "resourcePolicies" not in sampler
    head = types["ray.head.default"]["node_config"]
    assert "nicType" not in head["networkInterfaces"][0] and "scheduling" not in head
    for name, node_type in types.items():
        nc = node_type["node_config"]
        assert nc["tags"]["items"] == ["rlcloud-t-gcp"]  # what the firewall rules target
        assert nc["labels"] == {"rlcloud-cluster": "t-gcp"}
        runs_as = "head" if name == "ray.head.default" else "worker"  # workers cannot reach the autoscaler's grants
        assert nc["serviceAccounts"][0]["email"] == f"rlcloud-t-gcp-{runs_as}@my-rl-project.iam.gserviceaccount.com"
        keys = {i["key"]: i["value"] for i in nc["metadata"]["items"]}
        assert keys["block-project-ssh-keys"] == "true"


def test_azure_config() -> None:
    config = compiled(AZURE)
    validate_ray_config(config)
    assert config["provider"]["resource_group"] == "rlcloud-t-azure"
    types = config["available_node_types"]
    learner = types["learner"]["node_config"]
    assert learner["azure_arm_parameters"]["vmSize"] == "Standard_ND96isr_H100_v5"
    assert learner["azure_arm_parameters"]["imagePublisher"] == "microsoft-dsvm"
    assert learner["azure_arm_parameters"]["enableAcceleratedNetworking"] is True
    assert "proximityPlacementGroup" in learner["azure_arm_parameters"]  # rlcloud's node provider takes it
    sampler = types["sampler"]["node_config"]
    assert sampler["azure_arm_parameters"]["priority"] == "Spot"
    assert "proximityPlacementGroup" not in sampler["azure_arm_parameters"]


def test_local_config_keeps_cloud_node_type_names() -> None:
    config = compiled(LOCAL, None)
    validate_ray_config(config)
    provider = config["provider"]
    assert provider["type"] == "external" and provider["module"] == "provisioner.local.node_provider.LocalNodeProvider"
    from ray.autoscaler._private.fake_multi_node.node_provider import FakeMultiNodeProvider

    from provisioner.local.node_provider import LocalNodeProvider

    assert issubclass(LocalNodeProvider, FakeMultiNodeProvider)
    types = config["available_node_types"]
    assert set(types) == set(compiled(AWS)["available_node_types"])
    assert types["learner"]["resources"]["GPU"] == 2 and types["sampler"]["max_workers"] == 6
    assert config["max_workers"] == 7


def test_token_value_never_enters_the_config(tmp_path: Path) -> None:
    ctx = CompileContext(state_dir=tmp_path)
    secret = "s3cr3t-token-value-0123456789"
    ctx.token_file.write_text(secret)
    for text in (AWS, GCP, AZURE, LOCAL):
        config = compile_cluster(load_spec_text(text), ctx)
        dumped = yaml.safe_dump(config)
        assert secret not in dumped
        mounts = dict(config["file_mounts"])
        if text is not LOCAL:
            assert mounts.pop("~/.rlcloud/auth_token") == str(ctx.token_file)
        # Anything else shipped is rlcloud's own node-provider code (GCP, Azure), never a secret.
        assert all(remote.startswith("~/.rlcloud/python/provisioner/") and local.endswith(".py") for remote, local in mounts.items())
    config = compile_cluster(load_spec_text(AWS), ctx)
    head_start = config["head_start_ray_commands"][-1]
    assert "RAY_AUTH_MODE=token" in head_start and "RAY_AUTH_TOKEN_PATH=$HOME/.rlcloud/auth_token" in head_start
    assert "--dashboard-host=127.0.0.1" in head_start
    assert "RAY_AUTH_MODE=token" in config["worker_start_ray_commands"][-1]


def test_user_env_is_quoted_into_start_commands() -> None:
    text = AWS + 'ray:\n  env:\n    NCCL_DEBUG: INFO\n    WEIRD: "a b;c"\n'
    start = compiled(text)["worker_start_ray_commands"][-1]
    assert "NCCL_DEBUG=INFO" in start and "WEIRD='a b;c'" in start


# --- generated specs: whatever a user can validly write, Ray accepts --------------------


def _types(cloud: str) -> list[str]:
    return sorted(get_catalog(cloud).types)  # type: ignore[arg-type]


@st.composite
def cloud_specs(draw: st.DrawFn) -> dict[str, Any]:
    cloud = draw(st.sampled_from(["aws", "gcp", "azure", "local"]))
    group_names = draw(st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), max_size=3, unique=True))
    groups: dict[str, Any] = {}
    for name in group_names:
        low = draw(st.integers(0, 3))
        group: dict[str, Any] = {"min_nodes": low, "max_nodes": draw(st.integers(low, 10))}
        if cloud == "local":
            group["cpus"] = draw(st.integers(0, 4))
            if draw(st.booleans()):
                group["accelerators"] = f"GPU:{draw(st.integers(1, 8))}"
        else:
            group["instance_type"] = draw(st.sampled_from(_types(cloud)))
            group["spot"] = draw(st.booleans())
            group["disk_gb"] = draw(st.integers(10, 4000))
        if draw(st.booleans()):
            group["labels"] = {"role": name.rstrip("_")}  # a label value ends alphanumeric; a group name may not
        if draw(st.booleans()):
            group["resources"] = {f"{name}_slot": draw(st.integers(0, 4))}
        groups[name] = group
    spec: dict[str, Any] = {"name": draw(st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)), "cloud": cloud, "node_groups": groups}
    spec["ray"] = {"idle_timeout_minutes": draw(st.floats(0, 60)), "upscaling_speed": draw(st.floats(0.1, 10))}
    if cloud == "local":
        return spec
    placement = {"aws": "cluster", "gcp": "compact", "azure": "proximity"}[cloud]
    spec["network"] = {
        "ssh_cidrs": draw(st.sampled_from(["auto", ["10.0.0.0/8"], ["203.0.113.7"]])),
        "fast_networking": draw(st.sampled_from(["auto", "off"])),
        "placement": draw(st.sampled_from([placement, "none"])),
    }
    spec["head"] = {"instance_type": draw(st.sampled_from(_types(cloud)))}
    if cloud == "aws":
        spec.update(region="us-east-1", zone="us-east-1a")
    elif cloud == "gcp":
        if spec["network"]["fast_networking"] == "off":
            spec["network"]["fast_networking"] = "auto"  # A3 types cannot turn gVNIC off
        spec.update(project="proj-12345", region="us-central1", zone="us-central1-b")
    else:
        spec.update(subscription_id="11111111-2222-3333-4444-555555555555", region="westus2", zone="2")
    return spec


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cloud_specs())
def test_generated_specs_compile_to_configs_ray_accepts(data: dict[str, Any]) -> None:
    spec = driver_for(data["cloud"]).spec_class.model_validate(data)
    config = compile_cluster(spec, CTX)
    prepared = validate_ray_config(config)
    assert prepared["max_workers"] == sum(g["max_nodes"] for g in data["node_groups"].values())
    for name, group in data["node_groups"].items():
        entry = config["available_node_types"][name]
        assert (entry["min_workers"], entry["max_workers"]) == (group["min_nodes"], group["max_nodes"])
        for key, value in group.get("resources", {}).items():
            assert entry["resources"][key] == value
