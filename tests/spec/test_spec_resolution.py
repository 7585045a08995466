"""Valid specs resolve to the types, resources and network decisions a user expects."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner import naming
from provisioner.api import templates
from provisioner.spec import load_spec_text
from provisioner.spec.checks import spec_warnings
from provisioner.spec.human import AcceleratorRequest
from provisioner.spec.models import CLUSTER_NAME_RE
from provisioner.spec.resolve import resolve_nodes
from tests.support.specs import AWS, AZURE, GCP, LOCAL


def by_group(text: str) -> dict:
    return {n.group: n for n in resolve_nodes(load_spec_text(text))}


def test_every_template_is_valid() -> None:
    found = templates()
    assert {t.cloud for t in found} == {"aws", "gcp", "azure", "local"}
    for t in found:
        spec = load_spec_text(t.text, t.name)
        assert resolve_nodes(spec)[0].is_head


def test_accelerators_resolve_to_the_cheapest_matching_type() -> None:
    nodes = by_group(AWS)
    assert nodes["learner"].instance.name == "p5.48xlarge"
    assert nodes["sampler"].instance.name == "g6.xlarge"  # cheapest of the 1x L4 sizes
    assert by_group(AWS.replace("H100:8", "A100:8"))["learner"].instance.name == "p4d.24xlarge"
    assert by_group(AWS.replace("H100:8", "a100-80gb:8"))["learner"].instance.name == "p4de.24xlarge"
    assert by_group(GCP)["learner"].instance.name == "a3-highgpu-8g"
    assert by_group(AZURE)["learner"].instance.name == "Standard_ND96isr_H100_v5"


def test_ray_resources_come_from_the_catalog() -> None:
    nodes = by_group(AWS.replace("spot: true", "spot: true\n    resources: {sampler: 1}"))
    assert nodes["learner"].ray_resources() == {"CPU": 192, "GPU": 8}
    assert nodes["sampler"].ray_resources() == {"CPU": 4, "GPU": 1, "sampler": 1}
    assert nodes["head"].ray_resources() == {"CPU": 8}  # default head: m6i.2xlarge


def test_cpus_override_is_bounded_by_the_type() -> None:
    nodes = by_group(AWS.replace("spot: true", "spot: true\n    cpus: 2"))
    assert nodes["sampler"].cpus == 2


def test_fast_networking_auto_uses_it_where_supported() -> None:
    aws = by_group(AWS)
    assert aws["learner"].fast_networking and not aws["sampler"].fast_networking and not aws["head"].fast_networking
    gcp = by_group(GCP)
    assert gcp["learner"].fast_networking and gcp["sampler"].fast_networking and not gcp["head"].fast_networking
    azure = by_group(AZURE)
    assert all(n.fast_networking for n in azure.values())  # every type here supports it
    off = by_group(AWS.replace("placement: cluster", "placement: cluster\n  fast_networking: off"))
    assert not any(n.fast_networking for n in off.values())


def test_placement_defaults_to_on_demand_gpu_groups() -> None:
    nodes = by_group(AWS)
    assert nodes["learner"].placement and not nodes["sampler"].placement and not nodes["head"].placement
    forced = by_group(AWS.replace("spot: true", "spot: true\n    placement: true"))
    assert forced["sampler"].placement
    none = by_group(AWS.replace("  placement: cluster\n", ""))
    assert not any(n.placement for n in none.values())


def test_spot_price_is_discounted() -> None:
    nodes = by_group(AWS)
    assert nodes["sampler"].price_per_hour() < nodes["sampler"].instance.price_per_hour


def test_local_nodes_are_simulated() -> None:
    nodes = by_group(LOCAL)
    assert nodes["learner"].ray_resources() == {"CPU": 1, "GPU": 2}
    assert nodes["learner"].instance is None and nodes["head"].cpus == 2


def test_human_strings() -> None:
    assert AcceleratorRequest.model_validate("h100:8") == AcceleratorRequest(name="H100", count=8)
    assert AcceleratorRequest.model_validate("L4") == AcceleratorRequest(name="L4", count=1)
    spec = load_spec_text(AWS.replace("spot: true", "spot: true\n    disk_gb: 1.5TB"))
    assert spec.node_groups["sampler"].disk_gb == 1500  # type: ignore[attr-defined]


def test_warnings_for_public_ssh_and_unoffered_zone() -> None:
    spec = load_spec_text(AWS.replace("[203.0.113.0/24]", "[0.0.0.0/0]\n  allow_public_ssh: true"))
    assert any("0.0.0.0/0" in w for w in spec_warnings(spec))
    # The snapshot (AWS's offering data as served by moto) has no p5.48xlarge in eu-west-1.
    text = AWS.replace("us-west-2b", "eu-west-1a").replace("us-west-2", "eu-west-1")
    assert any("p5.48xlarge is not offered in eu-west-1a" in w for w in spec_warnings(load_spec_text(text)))


@settings(deadline=None)  # the first example loads the instance catalog: slow on a loaded machine
@given(st.from_regex(CLUSTER_NAME_RE, fullmatch=True))
def test_every_valid_cluster_name_gives_valid_cloud_names(name: str) -> None:
    load_spec_text(LOCAL.replace("name: t-local", f"name: {name}"))
    assert len(naming.aws_role(name)) <= 64
    assert len(naming.aws_default_bucket(name, "123456789012")) <= 63
    accounts = {
        "head": naming.gcp_head_service_account_id(name),
        "worker": naming.gcp_worker_service_account_id(name),
    }
    for sa in accounts.values():
        assert 6 <= len(sa) <= 30 and re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", sa)
    assert len(set(accounts.values())) == 2, accounts
    assert accounts["head"].endswith("-head") and accounts["worker"].endswith("-worker")
    gce = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
    for derived in (naming.gcp_firewall_internal(name), naming.gcp_placement_policy(name), naming.gcp_network_tag(name)):
        assert len(derived) <= 63 and gce.fullmatch(derived)
    # Ray's GCP instance names add "ray-", "-worker-", an 8-char id and "-compute".
    assert len(f"ray-{name}-worker-12345678-compute") <= 63


@pytest.mark.parametrize("cloud_text", [AWS, GCP, AZURE, LOCAL])
def test_specs_round_trip_through_json(cloud_text: str) -> None:
    spec = load_spec_text(cloud_text)
    again = type(spec).model_validate_json(spec.model_dump_json())
    assert again == spec
