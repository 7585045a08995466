"""Malformed specs of every kind exit 2 with FILE:LINE field.path: message and change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.errors import SpecError
from provisioner.spec import load_spec, load_spec_text
from tests.support.cli import run_cli
from tests.support.specs import AWS, AZURE, GCP, LOCAL


def issues_of(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(SpecError) as info:
        load_spec_text(text, "spec.yaml")
    return [(i.line, i.path, i.message) for i in info.value.issues]


def one_issue(text: str) -> tuple[int | None, str, str]:
    found = issues_of(text)
    assert len(found) == 1, found
    return found[0]


def test_not_yaml_reports_the_line() -> None:
    line, path, message = one_issue("name: a\ncloud: local\nnode_groups: [oops\n")
    assert line == 4 or line == 3
    assert path == ""
    assert "not valid YAML" in message


def test_empty_file_and_non_mapping() -> None:
    with pytest.raises(SpecError, match="empty"):
        load_spec_text("", "s.yaml")
    line, _, message = one_issue("- just\n- a list\n")
    assert "expected a mapping" in message and line == 1


def test_missing_and_unknown_cloud() -> None:
    assert one_issue("name: a\n")[1:] == ("cloud", "required field is missing; one of: aws, gcp, azure, local")
    line, path, message = one_issue("name: a\ncloud: moon\n")
    assert (line, path) == (2, "cloud") and "aws, gcp, azure, local" in message


def test_unknown_key_names_the_allowed_fields_and_suggests() -> None:
    text = AWS.replace("    spot: true\n", "    spot: true\n    max_node: 3\n")
    line, path, message = one_issue(text)
    assert path == "node_groups.sampler.max_node"
    assert line == text.splitlines().index("    max_node: 3") + 1
    assert "did you mean 'max_nodes'" in message and "allowed here:" in message


def test_wrong_types_name_field_and_value() -> None:
    line, path, message = one_issue(AWS.replace("spot: true", "spot: maybe"))
    assert path == "node_groups.sampler.spot" and "boolean" in message and "'maybe'" in message
    _, path, message = one_issue(AWS.replace("max_nodes: 8", "max_nodes: lots"))
    assert path == "node_groups.sampler.max_nodes" and "integer" in message


def test_duplicate_keys_are_rejected() -> None:
    line, path, message = one_issue("name: a\ncloud: local\nname: b\n")
    assert (line, path) == (3, "name") and "first written on line 1" in message


def test_min_greater_than_max() -> None:
    _, path, message = one_issue(LOCAL.replace("max_nodes: 6", "min_nodes: 7\n    max_nodes: 6"))
    assert path == "node_groups.sampler" and "min_nodes (7) must be <= max_nodes (6)" in message


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("Upper", "lowercase"),
        ("ends-with-", "not ending"),
        ("9starts-with-digit", "starting with a letter"),
        ("has_underscore", "lowercase letters, digits and '-'"),
        ("x" * 33, "at most 32"),
    ],
)
def test_cluster_name_rules(name: str, fragment: str) -> None:
    _, path, message = one_issue(LOCAL.replace("name: t-local", f"name: {name}"))
    assert path == "name" and fragment in message


def test_group_name_rules() -> None:
    _, path, message = one_issue(LOCAL.replace("  sampler:", "  head:"))
    assert path == "node_groups" and "reserved" in message
    _, _, message = one_issue(LOCAL.replace("  sampler:", "  Sampler:"))
    assert "group name 'Sampler'" in message


def test_zone_must_belong_to_region() -> None:
    line, path, message = one_issue(AWS.replace("zone: us-west-2b", "zone: us-east-1a"))
    assert (line, path) == (4, "zone") and "us-west-2a" in message
    _, path, message = one_issue(GCP.replace("zone: us-central1-a", "zone: us-central1-z"))
    assert path == "zone"
    _, path, message = one_issue(AZURE.replace("region: eastus", "region: eastus\nzone: '7'"))
    assert path == "zone" and "1, 2, 3" in message


def test_unknown_region_suggests_close_names() -> None:
    _, path, message = one_issue(AWS.replace("region: us-west-2", "region: us-west2").replace("zone: us-west-2b", "zone: us-west2b"))
    assert path == "region" and "did you mean us-west-2" in message


def test_accelerator_that_no_type_carries() -> None:
    _, path, message = one_issue(AWS.replace("H100:8", "H100:3"))
    assert path == "node_groups.learner.accelerators" and "counts [1, 8]" in message
    _, path, message = one_issue(AWS.replace("L4:1", "TPU:1"))
    assert path == "node_groups.sampler.accelerators" and "known GPU models" in message


def test_unknown_instance_type_suggests() -> None:
    _, path, message = one_issue(AWS.replace("accelerators: L4:1", "instance_type: g6.xlarg"))
    assert path == "node_groups.sampler.instance_type" and "did you mean g6.xlarge" in message


def test_instance_type_and_accelerators_must_agree() -> None:
    text = AWS.replace("accelerators: H100:8", "accelerators: H100:8\n    instance_type: p4d.24xlarge")
    _, path, message = one_issue(text)
    assert path == "node_groups.learner.accelerators" and "8x A100" in message


def test_efa_on_for_a_type_without_efa() -> None:
    text = AWS.replace("placement: cluster", "placement: cluster\n  fast_networking: on")
    _, path, message = one_issue(text)
    assert path == "network.fast_networking" and "g6.xlarge" in message and "EFA" in message
    # The same request on the group alone points at the group's field.
    text = AWS.replace("spot: true", "spot: true\n    fast_networking: on")
    _, path, _ = one_issue(text)
    assert path == "node_groups.sampler.fast_networking"


def test_gvnic_off_on_a_type_that_requires_it() -> None:
    _, path, message = one_issue(GCP.replace("placement: compact", "placement: compact\n  fast_networking: off"))
    assert path == "network.fast_networking" and "a3-highgpu-8g requires gVNIC" in message


def test_accelerated_networking_on_for_a_type_without_it() -> None:
    text = AZURE.replace("region: eastus", "region: eastus\nhead:\n  instance_type: Standard_D2s_v3").replace(
        "placement: proximity", "placement: proximity\n  fast_networking: on"
    )
    _, path, message = one_issue(text)
    assert path == "network.fast_networking" and "Standard_D2s_v3" in message


def test_placement_word_of_another_cloud() -> None:
    _, path, message = one_issue(AWS.replace("placement: cluster", "placement: compact"))
    assert path == "network.placement" and "'compact' is gcp's placement; on aws use 'cluster'" in message


def test_group_placement_without_cluster_placement() -> None:
    text = AWS.replace("  placement: cluster\n", "").replace("spot: true", "spot: true\n    placement: true")
    _, path, message = one_issue(text)
    assert path == "node_groups.sampler.placement" and "needs network.placement" in message


def test_ssh_cidrs_rules() -> None:
    _, path, message = one_issue(AWS.replace("[203.0.113.0/24]", "[203.0.113.5/24]"))
    assert path == "network.ssh_cidrs" and "did you mean 203.0.113.0/24" in message
    _, path, message = one_issue(AWS.replace("[203.0.113.0/24]", "[0.0.0.0/0]"))
    assert path == "network" and "allow_public_ssh" in message
    _, path, message = one_issue(AWS.replace("[203.0.113.0/24]", "[]"))
    assert "at least one CIDR" in message
    _, path, _ = one_issue(AWS.replace("  ssh_cidrs: [203.0.113.0/24]\n", ""))
    assert path == "network.ssh_cidrs"


def test_storage_rules() -> None:
    found = issues_of(AWS.replace("s3://t-aws-ckpt/runs", "file:///tmp/ckpt"))
    assert [p for _, p, _ in found] == ["storage.checkpoint_uri", "storage.create_bucket"]
    assert "only for the local cluster" in found[0][2] and "needs a s3:// checkpoint_uri" in found[1][2]
    _, path, message = one_issue(AWS.replace("s3://t-aws-ckpt/runs", "s3://Bad_Bucket/x"))
    assert path == "storage.checkpoint_uri" and "not a valid bucket name" in message
    _, path, message = one_issue(AZURE + "storage:\n  checkpoint_uri: s3://b-1/p\n  create_bucket: true\n")
    assert path == "storage.create_bucket" and "create_bucket on azure needs a az:// checkpoint_uri" in message
    spec = load_spec_text(AZURE + "storage:\n  checkpoint_uri: az://rlckpt/runs/a\n  create_bucket: true\n")
    assert spec.storage.create_bucket and spec.storage.location.account == "rlckpt"  # type: ignore[union-attr]
    head_only = AZURE.split("node_groups:")[0] + "head:\n  accelerators: H100:8\nstorage:\n  checkpoint_uri: az://rlckpt/runs\n"
    _, path, message = one_issue(head_only)
    assert path == "storage.checkpoint_uri" and "written by worker nodes" in message
    _, path, message = one_issue(LOCAL + "storage:\n  checkpoint_uri: file:///tmp/c\n  create_bucket: true\n")
    assert path == "storage.create_bucket" and "azure (az://)" in message and "not on local" in message
    _, path, message = one_issue(LOCAL + "storage:\n  checkpoint_uri: ftp://x/y\n")
    assert "unsupported scheme" in message


def test_local_specific_rules() -> None:
    _, path, message = one_issue(LOCAL + "ray:\n  version: 2.40.0\n")
    assert path == "ray.version" and "installed here" in message
    _, path, message = one_issue(LOCAL.replace("    max_nodes: 6", "    max_nodes: 6\n    instance_type: g6.xlarge"))
    assert path == "node_groups.sampler.instance_type" and "unknown field" in message


def test_reserved_resources_and_labels() -> None:
    _, path, message = one_issue(LOCAL.replace("max_nodes: 6", "max_nodes: 6\n    resources: {GPU: 1}"))
    assert path == "node_groups.sampler.resources" and "`accelerators` field" in message
    _, path, message = one_issue(LOCAL.replace("max_nodes: 6", "max_nodes: 6\n    labels: {ray.io/node-id: x}"))
    assert path == "node_groups.sampler.labels" and "reserved" in message


def test_yaml_on_off_are_read_as_words() -> None:
    spec = load_spec_text(AWS.replace("placement: cluster", "placement: cluster\n  fast_networking: off"))
    assert spec.network.fast_networking == "off"  # type: ignore[attr-defined]


def test_every_issue_is_reported_at_once() -> None:
    text = AWS.replace("spot: true", "spot: maybe").replace("max_nodes: 8", "max_nodes: lots")
    paths = {p for _, p, _ in issues_of(text)}
    assert {"node_groups.sampler.spot", "node_groups.sampler.max_nodes"} <= paths


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "nope.yaml")


def test_cli_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(AWS.replace("spot: true", "spot: maybe"))
    result = run_cli("validate", str(bad))
    assert result.code == 2
    assert f"{bad}:16: node_groups.sampler.spot:" in result.err
    assert "Traceback" not in result.text
    result = run_cli("render", str(tmp_path / "missing.yaml"))
    assert result.code == 2 and "file not found" in result.err
    result = run_cli("validate")
    assert result.code == 2 and "Missing argument" in result.err


def test_boot_images_are_checked_per_cloud() -> None:
    _, path, message = one_issue(AWS.replace("    spot: true", "    spot: true\n    image: ubuntu-20.04"))
    assert path == "node_groups.sampler.image" and "deep-learning-base" in message
    _, path, message = one_issue(AZURE.replace("region: eastus", "region: eastus\nhead:\n  image: ubuntu"))
    assert path == "head.image" and "publisher:offer:sku:version" in message
    for ok in ("ami-0123456789abcdef0", "ssm:/aws/service/x/ami-id", "ubuntu-22.04"):
        load_spec_text(AWS.replace("    spot: true", f"    spot: true\n    image: {ok}"))
    load_spec_text(AZURE.replace("region: eastus", "region: eastus\nhead:\n  image: Canonical:offer:sku:latest"))
