"""The GCP compiler's choices that `up` depends on: Ray runs through rlcloud's provider (and can
load it on the head), gVNIC follows what `up` found out about the images, TERMINATE wherever
live migration is refused. Pure: no fake needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from provisioner.compile import CompileContext, GcpRefs, compile_cluster, find_pending
from provisioner.images import GCP_GPU_IMAGE
from provisioner.ray_validate import validate_ray_config
from provisioner.spec import load_spec_text
from tests.support.specs import GCP

CTX = CompileContext(state_dir=Path("/home/op/.rlcloud/clusters/t-gcp"))
REFS = GcpRefs(service_account_email="rlcloud-t-gcp@my-rl-project.iam.gserviceaccount.com", ssh_public_key="ssh-ed25519 AAAA rlcloud-t-gcp")


def compiled(text: str = GCP, refs: GcpRefs = REFS) -> dict[str, Any]:
    return compile_cluster(load_spec_text(text), CTX, refs)


def test_ray_runs_through_rlcloud_provider_shipped_to_the_head() -> None:
    config = compiled()
    assert config["provider"]["type"] == "external"
    assert config["provider"]["module"] == "provisioner.clouds.gcp.node_provider.RlcloudGcpNodeProvider"
    remote = "~/.rlcloud/python/provisioner/clouds/gcp/node_provider.py"
    assert Path(config["file_mounts"][remote]).read_text().startswith('"""Ray\'s GCP node provider without Ray\'s IAM step')
    assert config["head_setup_commands"][0].startswith("python3 -m pip install --quiet \"google-api-python-client==")
    start = [c for c in config["head_start_ray_commands"] if "ray start" in c]
    assert len(start) == 1 and start[0].startswith("export PYTHONPATH=$HOME/.rlcloud/python")
    assert not any("PYTHONPATH" in c for c in config["worker_start_ray_commands"])
    assert find_pending(config) == []
    prepared = validate_ray_config(config)  # what `ray up` checks first
    assert prepared["provider"]["module"] == config["provider"]["module"]


def test_gvnic_is_dropped_only_for_images_without_it() -> None:
    with_gvnic = compiled()["available_node_types"]
    assert with_gvnic["learner"]["node_config"]["networkInterfaces"][0]["nicType"] == "GVNIC"
    assert with_gvnic["sampler"]["node_config"]["networkInterfaces"][0]["nicType"] == "GVNIC"
    lacking = compiled(refs=REFS.model_copy(update={"images_without_gvnic": [GCP_GPU_IMAGE]}))["available_node_types"]
    assert "nicType" not in lacking["learner"]["node_config"]["networkInterfaces"][0]
    assert "nicType" not in lacking["ray.head.default"]["node_config"]["networkInterfaces"][0]


def test_placed_cpu_groups_do_not_live_migrate_either() -> None:
    data = yaml.safe_load(GCP)
    data["node_groups"]["cpu_pool"] = {"instance_type": "n2-standard-8", "max_nodes": 2, "placement": True}
    types = compiled(yaml.safe_dump(data))["available_node_types"]
    cpu = types["cpu_pool"]["node_config"]
    assert cpu["scheduling"] == {"onHostMaintenance": "TERMINATE"} and "guestAccelerators" not in cpu
    assert cpu["resourcePolicies"][0].endswith("/resourcePolicies/rlcloud-t-gcp-compact")
    assert "scheduling" not in types["ray.head.default"]["node_config"]
