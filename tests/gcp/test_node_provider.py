"""rlcloud's Ray node provider (provider type `external`): Ray loads it from the rendered
config, its bootstrap is Ray's minus the IAM step, and Ray's own GCP code creates, lists,
labels and terminates VMs through it against the fake, with the node configs rlcloud wrote.
It also imports on a head where rlcloud is not installed."""

from __future__ import annotations

import ast
import inspect
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from provisioner import naming
from provisioner.api import templates
from provisioner.clouds.gcp import node_provider
from tests.gcp.conftest import GcpProject
from tests.gcp.fake_gcp import errors
from tests.gcp.helpers import accounts, rendered, up

SPEC = next(t.text for t in templates() if t.name == "gcp-multi-node")
CLUSTER = "rl-gcp"


@pytest.fixture
def provisioned(gcp: GcpProject) -> dict[str, Any]:
    """`up --provision-only` done; the rendered Ray config."""
    up(gcp.spec(SPEC))
    return rendered(CLUSTER)


def test_ray_bootstrap_still_has_exactly_the_steps_the_provider_mirrors() -> None:
    """If a Ray upgrade adds a bootstrap step, this fails so the provider is updated with it."""
    from ray.autoscaler._private.gcp.config import bootstrap_gcp

    steps = re.findall(r"(_configure_\w+)\(", inspect.getsource(bootstrap_gcp))
    assert steps == ["_configure_project", "_configure_iam_role", "_configure_key_pair", "_configure_subnet"]
    ours = re.findall(r"ray_gcp\.(_configure_\w+)\(", inspect.getsource(node_provider.RlcloudGcpNodeProvider.bootstrap_config))
    assert ours == [s for s in steps if s != "_configure_iam_role"]


def test_ray_loads_the_provider_and_its_bootstrap_grants_nothing(gcp: GcpProject, provisioned: dict[str, Any]) -> None:
    from ray.autoscaler._private.commands import _bootstrap_config
    from ray.autoscaler._private.providers import _get_node_provider_cls

    assert _get_node_provider_cls(provisioned["provider"]) is node_provider.RlcloudGcpNodeProvider
    mark = gcp.fake.mark()
    bootstrapped = _bootstrap_config(provisioned, no_config_cache=True)  # what `ray up` runs
    calls = [str(c) for c in gcp.fake.calls[mark:]]
    assert calls == ["GET /v1/projects/my-rl-project -> 200"], calls  # the project check, nothing of IAM
    assert "ray-autoscaler-sa-v1@my-rl-project.iam.gserviceaccount.com" not in gcp.world.service_accounts
    assert "serviceAccounts" not in bootstrapped.get("head_node", {})
    types = bootstrapped["available_node_types"]
    assert types["ray.head.default"]["node_config"]["serviceAccounts"][0]["email"] == accounts(CLUSTER)["head"]
    assert {types[t]["node_config"]["serviceAccounts"][0]["email"] for t in ("learner", "sampler")} == {accounts(CLUSTER)["worker"]}
    assert bootstrapped["auth"]["ssh_private_key"] == provisioned["auth"]["ssh_private_key"]  # no project-wide SSH key


def test_ray_creates_lists_labels_and_terminates_vms_through_it(gcp: GcpProject, provisioned: dict[str, Any]) -> None:
    provider = node_provider.RlcloudGcpNodeProvider(provisioned["provider"], CLUSTER)
    types = provisioned["available_node_types"]
    tags = {"ray-node-name": f"ray-{CLUSTER}-worker", "ray-node-type": "worker", "ray-user-node-type": "learner"}
    created = provider.create_node(types["learner"]["node_config"], tags, 1)
    (name,) = created
    assert re.fullmatch(naming.gcp_ray_instance_pattern(CLUSTER), name)
    vm = gcp.world.instances[("my-rl-project", "us-central1-a", name)]
    interface = vm["networkInterfaces"][0]
    assert interface["nicType"] == "GVNIC" and interface["network"].endswith("/global/networks/default")
    assert vm["resourcePolicies"] == [f"projects/my-rl-project/regions/us-central1/resourcePolicies/{naming.gcp_placement_policy(CLUSTER)}"]
    assert vm["scheduling"]["onHostMaintenance"] == "TERMINATE"
    assert vm["machineType"] == "zones/us-central1-a/machineTypes/a3-highgpu-8g"
    assert vm["labels"] == {naming.TAG_KEY: CLUSTER, "ray-cluster-name": CLUSTER, **tags}
    assert vm["tags"] == {"items": [naming.gcp_network_tag(CLUSTER)]}

    assert provider.non_terminated_nodes({"ray-node-type": "worker"}) == [name]
    assert provider.non_terminated_nodes({"ray-node-type": "head"}) == []
    provider.set_node_tags(name, {"ray-node-status": "up-to-date"})  # with the label fingerprint it read
    assert vm["labels"]["ray-node-status"] == "up-to-date" and vm["labels"][naming.TAG_KEY] == CLUSTER
    provider.non_terminated_nodes({})  # Ray refreshes its cache this way
    assert provider.node_tags(name)["ray-node-status"] == "up-to-date"
    assert provider.external_ip(name) == interface["accessConfigs"][0]["natIP"]
    provider.terminate_node(name)
    assert gcp.world.instances == {}
    assert provider.non_terminated_nodes({}) == []


def test_ray_launches_the_head_as_the_head_account_and_workers_as_the_worker_account(gcp: GcpProject, provisioned: dict[str, Any]) -> None:
    """What the VMs run as, read back from the fake after Ray's own provider created them with
    the node configs rlcloud wrote: only the head can reach the autoscaler's grants."""
    provider = node_provider.RlcloudGcpNodeProvider(provisioned["provider"], CLUSTER)
    types = provisioned["available_node_types"]
    launched = {}
    for node_type, kind in (("ray.head.default", "head"), ("learner", "worker"), ("sampler", "worker")):
        tags = {"ray-node-name": f"ray-{CLUSTER}-{kind}", "ray-node-type": kind, "ray-user-node-type": node_type}
        (name,) = provider.create_node(types[node_type]["node_config"], tags, 1)
        launched[node_type] = gcp.world.instances[("my-rl-project", "us-central1-a", name)]["serviceAccounts"]
    scopes = ["https://www.googleapis.com/auth/cloud-platform"]
    assert launched == {
        "ray.head.default": [{"email": accounts(CLUSTER)["head"], "scopes": scopes}],
        "learner": [{"email": accounts(CLUSTER)["worker"], "scopes": scopes}],
        "sampler": [{"email": accounts(CLUSTER)["worker"], "scopes": scopes}],
    }


def test_a_capacity_error_on_vm_creation_reaches_ray(gcp: GcpProject, provisioned: dict[str, Any]) -> None:
    provider = node_provider.RlcloudGcpNodeProvider(provisioned["provider"], CLUSTER)
    gcp.fake.inject(errors.zone_resource_pool_exhausted(), nth=1)
    with pytest.raises(Exception, match="ZONE_RESOURCE_POOL_EXHAUSTED"):
        provider.create_node(
            provisioned["available_node_types"]["learner"]["node_config"], {"ray-node-name": f"ray-{CLUSTER}-worker", "ray-node-type": "worker"}, 1
        )
    assert gcp.world.instances == {}


def test_the_module_imports_nothing_from_rlcloud() -> None:
    tree = ast.parse(Path(node_provider.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not any(name.startswith("provisioner") for name in imported), imported


def test_it_imports_on_a_head_without_rlcloud(tmp_path: Path, provisioned: dict[str, Any]) -> None:
    """Lay the file out as `file_mounts` does and import it with only Ray's site-packages on
    the path (no .pth files, so not the rlcloud checkout either): the head's situation."""
    ((remote, local),) = [(r, loc) for r, loc in provisioned["file_mounts"].items() if r.startswith("~/.rlcloud/python/")]
    home = tmp_path / "home"
    target = home / remote.removeprefix("~/")
    target.parent.mkdir(parents=True)
    shutil.copy(local, target)
    export = next(c for c in provisioned["head_start_ray_commands"] if "ray start" in c).split(";", 1)[0]
    assert export == "export PYTHONPATH=$HOME/.rlcloud/python${PYTHONPATH:+:$PYTHONPATH}"
    code = (
        "import sys; sys.path.append(sys.argv[1]);"
        "from ray.autoscaler._private.providers import _get_node_provider_cls as load;"
        f"cls = load({{'type': 'external', 'module': {provisioned['provider']['module']!r}}});"
        "import provisioner; print(cls.__name__, list(provisioner.__path__))"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code, sysconfig.get_paths()["purelib"]],
        env={"PYTHONPATH": str(home / ".rlcloud/python"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[0] == "RlcloudGcpNodeProvider"
    assert str(home / ".rlcloud/python/provisioner") in result.stdout  # the namespace path, not a checkout
