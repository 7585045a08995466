"""The bundled catalog: AWS facts match EC2's DescribeInstanceTypes; every family RL teams use is there."""

from __future__ import annotations

import json
from importlib import resources

import boto3
import pytest
from moto import mock_aws

from provisioner.catalog import get_catalog
from provisioner.catalog.aws_ec2 import fetch_instance_types, fetch_region_zones


def test_aws_snapshot_matches_describe_instance_types() -> None:
    """moto serves AWS's own instance data; the snapshot must agree with it field by field."""
    snapshot = json.loads(resources.files("provisioner.catalog").joinpath("data", "aws.json").read_text())
    names = [t["name"] for t in snapshot["types"]]
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-west-2")
        live = {e["name"]: e for e in fetch_instance_types(ec2, names)}
        zones, offered = fetch_region_zones(ec2, names)
    assert set(live) == set(names)
    for entry in snapshot["types"]:
        fields = {k: v for k, v in entry.items() if k != "zones"}
        assert fields == live[entry["name"]], entry["name"]
    assert tuple(zones) == tuple(snapshot["regions"]["us-west-2"])
    assert set(offered["p5.48xlarge"]) <= set(next(t for t in snapshot["types"] if t["name"] == "p5.48xlarge")["zones"])


@pytest.mark.parametrize(
    ("cloud", "types"),
    [
        ("aws", ["p4d.24xlarge", "p4de.24xlarge", "p5.48xlarge", "g5.xlarge", "g5.48xlarge", "g6.xlarge", "m6i.2xlarge"]),
        ("gcp", ["a2-highgpu-8g", "a2-ultragpu-8g", "a3-highgpu-8g", "g2-standard-8", "n2-standard-8"]),
        ("azure", ["Standard_ND96asr_v4", "Standard_ND96amsr_A100_v4", "Standard_ND96isr_H100_v5", "Standard_NC24ads_A100_v4", "Standard_D8s_v5"]),
    ],
)
def test_families_rl_teams_use_are_present_and_priced(cloud: str, types: list[str]) -> None:
    catalog = get_catalog(cloud)  # type: ignore[arg-type]
    for name in types:
        inst = catalog.get(name)
        assert inst is not None, name
        assert inst.price_per_hour and inst.price_per_hour > 0
    assert all(t.price_per_hour is not None for t in catalog.types.values())


def test_efa_facts_for_the_aws_gpu_families() -> None:
    aws = get_catalog("aws")
    assert aws.types["p5.48xlarge"].efa_supported and aws.types["p5.48xlarge"].max_network_cards == 32
    assert aws.types["p4d.24xlarge"].max_network_cards == 4
    assert not aws.types["g6.xlarge"].efa_supported
    assert aws.types["p4de.24xlarge"].gpu_model == "A100-80GB" and aws.types["p4d.24xlarge"].gpu_model == "A100"


def test_accelerator_lookup_explains_what_exists() -> None:
    with pytest.raises(LookupError, match=r"H100 comes in counts \[8\]"):
        get_catalog("gcp").resolve_accelerator("H100", 2)
    assert get_catalog("gcp").resolve_accelerator("l4", 2).name == "g2-standard-24"
