"""The GCP compiler's choices that `up` depends on: Ray runs through rlcloud's provider (and can
load it on the head), gVNIC follows what `up` found out about the images, TERMINATE wherever
live migration is refused. Pure: no fake needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner.compile import CompileContext, find_pending
from provisioner.drivers import compile_cluster
from provisioner.errors import SpecError
from provisioner.images import GCP_GPU_IMAGE
from provisioner.ray_validate import validate_ray_config
from provisioner.refs import GcpRefs
from provisioner.spec import load_spec_text
from tests.support.specs import GCP

CTX = CompileContext(state_dir=Path("/home/op/.rlcloud/clusters/t-gcp"))
REFS = GcpRefs(ssh_public_key="ssh-ed25519 AAAA rlcloud-t-gcp")


def compiled(text: str = GCP, refs: GcpRefs = REFS) -> dict[str, Any]:
    return compile_cluster(load_spec_text(text), CTX, refs)


def test_ray_runs_through_rlcloud_provider_shipped_to_the_head() -> None:
    config = compiled()
    assert config["provider"]["type"] == "external"
    assert config["provider"]["module"] == "provisioner.clouds.gcp.node_provider.RlcloudGcpNodeProvider"
    remote = "~/.rlcloud/python/provisioner/clouds/gcp/node_provider.py"
    assert Path(config["file_mounts"][remote]).read_text().startswith('"""Ray\'s GCP node provider without Ray\'s IAM step')
    assert config["head_setup_commands"][0].startswith('python3 -m pip install --quiet "google-api-python-client==')
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


def _runs_as(config: dict[str, Any]) -> dict[str, list[str]]:
    return {name: [a["email"] for a in t["node_config"]["serviceAccounts"]] for name, t in config["available_node_types"].items()}


def test_the_head_runs_as_the_head_account_and_every_worker_type_as_the_worker_account() -> None:
    head, worker = "rlcloud-t-gcp-head@my-rl-project.iam.gserviceaccount.com", "rlcloud-t-gcp-worker@my-rl-project.iam.gserviceaccount.com"
    assert _runs_as(compiled()) == {"ray.head.default": [head], "learner": [worker], "sampler": [worker]}


def test_accounts_the_user_names_are_used_as_is() -> None:
    ci, samplers = "ci-deployer@my-rl-project.iam.gserviceaccount.com", "rl-workers@my-rl-project.iam.gserviceaccount.com"
    one = GCP.replace("storage:\n", f"identity:\n  service_account: {ci}\nstorage:\n")
    assert set(map(tuple, _runs_as(compiled(one)).values())) == {(ci,)}  # as before the split: one account for all
    two = one.replace(f"service_account: {ci}\n", f"service_account: {ci}\n  worker_service_account: {samplers}\n")
    assert _runs_as(compiled(two)) == {"ray.head.default": [ci], "learner": [samplers], "sampler": [samplers]}
    # A worker account of the user's with an account rlcloud would create for the head: the head
    # would need actAs on the user's account, a binding rlcloud does not make on what users bring.
    with pytest.raises(SpecError, match="`worker_service_account` needs `service_account`"):
        load_spec_text(GCP.replace("storage:\n", f"identity:\n  worker_service_account: {samplers}\nstorage:\n"))
