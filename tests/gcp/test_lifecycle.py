"""`rlcloud plan / up --provision-only / down` on GCP through the real CLI and the real Google
SDK clients, against the fake REST APIs: every template, idempotence, what stays and what
goes, resources the user brought, and specs that change between runs."""

from __future__ import annotations

import pytest
import yaml

from provisioner import naming
from provisioner.api import templates
from provisioner.state import delete_state
from tests.gcp.conftest import OPERATOR_IP, GcpProject
from tests.gcp.fake_gcp.storage import add_bucket, put_object
from tests.gcp.helpers import accounts, cluster_name, down, leftovers, others_bindings_kept, plan_rows, rendered, up
from tests.support.cli import run_cli
from tests.support.specs import GCP

GCP_TEMPLATES = {t.name: t.text for t in templates() if t.name.startswith("gcp-")}
SPECS = {"tests-spec": GCP, **GCP_TEMPLATES}
USER_BUCKETS = {"tests-spec": "t-gcp-ckpt"}  # names a gs:// bucket without create_bucket


def test_every_gcp_template_is_covered() -> None:
    assert set(GCP_TEMPLATES) == {"gcp-multi-node", "gcp-single-node-8gpu"}


@pytest.mark.parametrize("which", sorted(SPECS))
def test_plan_up_reup_down_leaves_nothing(gcp: GcpProject, which: str) -> None:
    text, cluster = SPECS[which], cluster_name(SPECS[which])
    if which in USER_BUCKETS:
        add_bucket(gcp.world, USER_BUCKETS[which])
    spec = gcp.spec(text)
    tag = naming.gcp_network_tag(cluster)

    mark = gcp.fake.mark()
    planned = plan_rows(spec)
    assert gcp.fake.mutations(mark) == [], "plan must not change anything"
    assert {action for action, _, _ in planned} <= {"create", "use"}
    assert ("create", "firewall_rule", naming.gcp_firewall_ssh(cluster)) in planned

    up(spec)
    rules = {name: rule for (_, name), rule in gcp.world.firewalls.items()}
    assert set(rules) == set(naming.gcp_firewall_rules(cluster))
    assert all(rule["targetTags"] == [tag] and rule["network"].endswith("/global/networks/default") for rule in rules.values())
    expected_cidrs = [f"{OPERATOR_IP}/32"] if "ssh_cidrs: auto" in text else ["203.0.113.0/24"]
    assert rules[naming.gcp_firewall_ssh(cluster)]["sourceRanges"] == expected_cidrs

    config = rendered(cluster)
    assert config["provider"]["type"] == "external"
    assert config["provider"]["module"] == "provisioner.clouds.gcp.node_provider.RlcloudGcpNodeProvider"
    emails = accounts(cluster)
    assert {emails["head"], emails["worker"]} <= set(gcp.world.service_accounts)
    placed = []
    for name, node_type in config["available_node_types"].items():
        nc = node_type["node_config"]
        assert nc["labels"] == {naming.TAG_KEY: cluster} and nc["tags"]["items"] == [tag]
        email = emails["head"] if name == config["head_node_type"] else emails["worker"]
        assert nc["serviceAccounts"] == [{"email": email, "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}]
        gpu = "guestAccelerators" in nc
        assert (nc["networkInterfaces"][0].get("nicType") == "GVNIC") == gpu  # gVNIC on GPU VMs (images support it)
        if gpu:
            assert nc["scheduling"]["onHostMaintenance"] == "TERMINATE"
        placed += nc.get("resourcePolicies", [])
    policies = {name: p for (_, _, name), p in gcp.world.resource_policies.items()}
    if placed:
        assert set(policies) == {naming.gcp_placement_policy(cluster)}
        assert policies[naming.gcp_placement_policy(cluster)]["groupPlacementPolicy"] == {"collocation": "COLLOCATED"}
        assert all(p.endswith(f"/resourcePolicies/{naming.gcp_placement_policy(cluster)}") for p in placed)
    else:
        assert policies == {}
    assert {action for action, _, _ in plan_rows(spec)} <= {"keep", "use"}

    mark = gcp.fake.mark()
    again = up(spec)
    assert gcp.fake.mutations(mark) == [], f"the second up changed something: {gcp.fake.mutations(mark)}"
    assert "creating" not in again.text and "granting" not in again.text

    bucket = USER_BUCKETS.get(which) or f"rlcloud-{cluster}-checkpoints"
    down(spec)
    assert leftovers(gcp.world, cluster) == []
    assert others_bindings_kept(gcp)
    assert bucket in gcp.world.buckets, "checkpoints stay without --purge-storage"

    mark = gcp.fake.mark()
    result = run_cli("down", str(spec), "--yes")
    assert result.code == 0 and "nothing to do" in result.text, result.text
    assert gcp.fake.mutations(mark) == []


def test_down_without_state_sweeps_ray_instances_by_label_and_name(gcp: GcpProject) -> None:
    from provisioner.clouds.gcp.node_provider import RlcloudGcpNodeProvider

    text = GCP_TEMPLATES["gcp-multi-node"]
    cluster = cluster_name(text)
    spec = gcp.spec(text)
    up(spec)
    # What `ray up` and the autoscaler would launch, through the provider the config names.
    config = rendered(cluster)
    provider = RlcloudGcpNodeProvider(config["provider"], cluster)
    types = config["available_node_types"]
    provider.create_node(types["ray.head.default"]["node_config"], {"ray-node-name": f"ray-{cluster}-head", "ray-node-type": "head"}, 1)
    provider.create_node(types["learner"]["node_config"], {"ray-node-name": f"ray-{cluster}-worker", "ray-node-type": "worker"}, 1)
    # One that lost its labels, and another cluster's whose name shares our prefix.
    gcp.world.add_instance(f"ray-{cluster}-worker-0badc0de-compute", {}, status="TERMINATED")
    other = f"ray-{cluster}-x-head-12345678-compute"
    gcp.world.add_instance(other, {"ray-cluster-name": f"{cluster}-x"})
    assert len(gcp.world.instances) == 4

    delete_state(cluster)
    (naming.state_dir(cluster) / "ray-cluster.yaml").unlink()
    result = down(spec)
    assert "delete  instance" in result.text
    for role in ("head", "worker"):  # found by name and the cluster marker, not from the state
        assert f"delete  service_account        {accounts(cluster)[role]}" in result.text
    assert [name for (_, _, name) in gcp.world.instances] == [other]
    assert leftovers(gcp.world, cluster) == []  # the placement policy went after the VMs that used it


def test_purge_storage_deletes_the_bucket_rlcloud_created_with_every_version(gcp: GcpProject) -> None:
    text = GCP_TEMPLATES["gcp-single-node-8gpu"]
    cluster = cluster_name(text)
    bucket = f"rlcloud-{cluster}-checkpoints"
    spec = gcp.spec(text)
    up(spec)
    created = gcp.world.buckets[bucket]
    assert created["iamConfiguration"] == {"uniformBucketLevelAccess": {"enabled": True}, "publicAccessPrevention": "enforced"}
    assert created["versioning"] == {"enabled": True} and created["location"] == "US-CENTRAL1"
    assert created["labels"] == {naming.TAG_KEY: cluster, naming.MANAGED_TAG_KEY: "true"}
    for _ in range(2):
        put_object(gcp.world, bucket, "runs/step-1/model.safetensors")

    down(spec)
    assert len(gcp.world.objects[bucket]["runs/step-1/model.safetensors"]) == 2
    result = down(spec, "--purge-storage")
    assert f"delete  bucket                 gs://{bucket}" in result.text
    assert bucket not in gcp.world.buckets


def test_users_bucket_is_used_never_changed_and_loses_only_our_grant(gcp: GcpProject) -> None:
    add_bucket(gcp.world, "t-gcp-ckpt", uniform_access=False)
    before = dict(gcp.world.buckets["t-gcp-ckpt"])
    put_object(gcp.world, "t-gcp-ckpt", "runs/old/ckpt")
    spec = gcp.spec(GCP)
    rows = plan_rows(spec)
    assert ("use", "bucket", "gs://t-gcp-ckpt") in rows
    assert "whole bucket: it has no uniform bucket-level access" in run_cli("plan", str(spec)).out

    up(spec)
    members = [f"serviceAccount:{accounts('t-gcp')[role]}" for role in ("head", "worker")]
    ours = [b for b in gcp.world.bucket_policies["t-gcp-ckpt"]["bindings"] if set(members) & set(b["members"])]
    assert ours == [{"role": "roles/storage.objectUser", "members": members}]  # no condition possible

    down(spec, "--purge-storage")
    assert gcp.world.buckets["t-gcp-ckpt"] == before
    assert gcp.world.objects["t-gcp-ckpt"] == {"runs/old/ckpt": gcp.world.objects["t-gcp-ckpt"]["runs/old/ckpt"]}
    assert leftovers(gcp.world, "t-gcp") == []
    assert gcp.world.bucket_policies["t-gcp-ckpt"]["bindings"] == [
        {"role": "roles/storage.legacyBucketOwner", "members": ["projectOwner:my-rl-project"]}
    ]


def test_missing_bucket_without_create_bucket_stops_before_any_change(gcp: GcpProject) -> None:
    mark = gcp.fake.mark()
    result = run_cli("up", str(gcp.spec(GCP)), "--yes", "--provision-only")
    assert result.code == 1 and "gs://t-gcp-ckpt does not exist" in result.text and "create_bucket" in result.text
    assert "Traceback" not in result.text
    assert gcp.fake.mutations(mark) == []


@pytest.mark.parametrize("workers_own", [False, True], ids=["one-account", "worker-account"])
def test_named_service_accounts_are_used_as_is(gcp: GcpProject, workers_own: bool) -> None:
    ci, samplers = "ci-deployer@my-rl-project.iam.gserviceaccount.com", "rl-workers@my-rl-project.iam.gserviceaccount.com"
    named = f"  service_account: {ci}\n" + (f"  worker_service_account: {samplers}\n" if workers_own else "")
    text = GCP_TEMPLATES["gcp-multi-node"].replace("storage:\n", f"identity:\n{named}storage:\n")
    spec = gcp.spec(text)
    rows = plan_rows(spec)
    assert ("use", "service_account", ci) in rows and (("use", "service_account", samplers) in rows) == workers_own
    assert not any(kind in ("service_account", "iam_binding") and action != "use" for action, kind, _ in rows)
    mark = gcp.fake.mark()
    up(spec)
    changed = [str(c) for c in gcp.fake.mutations(mark)]
    assert not any("serviceAccounts" in c or "IamPolicy" in c or c.startswith("PUT") and c.endswith("/iam -> 200") for c in changed), changed
    policy_before = gcp.world.project_policy("my-rl-project")
    config = rendered("rl-gcp")
    worker = samplers if workers_own else ci
    for name, node_type in config["available_node_types"].items():
        assert node_type["node_config"]["serviceAccounts"][0]["email"] == (ci if name == config["head_node_type"] else worker)

    down(spec)
    assert ci in gcp.world.service_accounts and gcp.world.project_policy("my-rl-project") == policy_before
    assert leftovers(gcp.world, "rl-gcp") == []


def test_new_ssh_cidr_updates_only_the_ssh_rule(gcp: GcpProject, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = gcp.spec(GCP_TEMPLATES["gcp-single-node-8gpu"])
    up(spec)
    monkeypatch.setenv("RLCLOUD_PUBLIC_IP", "203.0.113.9")  # the operator moved
    rows = plan_rows(spec)
    assert ("update", "firewall_rule", naming.gcp_firewall_ssh("rl-gcp-1node")) in rows
    assert [r for r in rows if r[0] != "keep" and r[0] != "use"] == [("update", "firewall_rule", naming.gcp_firewall_ssh("rl-gcp-1node"))]
    mark = gcp.fake.mark()
    up(spec)
    assert [(c.method, c.path.rsplit("/", 1)[-1]) for c in gcp.fake.mutations(mark)] == [("PUT", naming.gcp_firewall_ssh("rl-gcp-1node"))]
    assert gcp.world.firewalls[("my-rl-project", naming.gcp_firewall_ssh("rl-gcp-1node"))]["sourceRanges"] == ["203.0.113.9/32"]


def test_changed_autoscaler_role_revokes_the_old_one(gcp: GcpProject) -> None:
    text = GCP_TEMPLATES["gcp-single-node-8gpu"]
    spec = gcp.spec(text)
    up(spec)
    custom = "projects/my-rl-project/roles/rayAutoscaler"
    spec = gcp.spec(text.replace("storage:\n", f"identity:\n  autoscaler_role: {custom}\nstorage:\n"))
    rows = plan_rows(spec)
    assert [r for r in rows if r[0] not in ("keep", "use")] == [("update", "iam_binding", "project my-rl-project")]
    # One write grants the new role and revokes the old: the plan says both.
    plan = run_cli("plan", str(spec)).out
    assert f"grant {custom} on project my-rl-project to rlcloud-rl-gcp-1node-head" in plan
    assert "revoke roles/compute.instanceAdmin.v1 on project my-rl-project from rlcloud-rl-gcp-1node-head" in plan
    up(spec)
    emails = accounts("rl-gcp-1node")
    roles = {b["role"] for b in gcp.world.project_policy("my-rl-project")["bindings"] if f"serviceAccount:{emails['head']}" in b["members"]}
    assert roles == {custom}
    assert not any(emails["worker"] in m for b in gcp.world.project_policy("my-rl-project")["bindings"] for m in b["members"])
    assert others_bindings_kept(gcp)


def test_custom_vpc_network_and_subnetwork(gcp: GcpProject) -> None:
    gcp.world.networks.add(("my-rl-project", "rl-vpc"))
    gcp.world.subnetworks.add(("my-rl-project", "us-central1", "rl-sub"))
    text = GCP_TEMPLATES["gcp-single-node-8gpu"].replace("network:\n", "network:\n  network: rl-vpc\n  subnetwork: rl-sub\n")
    up(gcp.spec(text))
    assert all(rule["network"].endswith("/global/networks/rl-vpc") for rule in gcp.world.firewalls.values())
    interface = rendered("rl-gcp-1node")["available_node_types"]["ray.head.default"]["node_config"]["networkInterfaces"][0]
    assert interface["network"] == "projects/my-rl-project/global/networks/rl-vpc"
    assert interface["subnetwork"] == "projects/my-rl-project/regions/us-central1/subnetworks/rl-sub"


def test_missing_network_is_a_cloud_error_before_any_change(gcp: GcpProject) -> None:
    text = GCP_TEMPLATES["gcp-single-node-8gpu"].replace("network:\n", "network:\n  network: nope\n")
    mark = gcp.fake.mark()
    result = run_cli("up", str(gcp.spec(text)), "--yes", "--provision-only")
    assert result.code == 1 and "VPC network nope does not exist in project my-rl-project" in result.text
    assert "Traceback" not in result.text and gcp.fake.mutations(mark) == []


def _sampler_on_old_image(instance_type: str) -> str:
    """The sample spec reduced to a head and one GPU group booting an image we choose."""
    data = yaml.safe_load(GCP)
    data.update(name="t-nic", storage={})
    data["node_groups"] = {"sampler": {"instance_type": instance_type, "image": "projects/my-rl-project/global/images/old-image", "max_nodes": 2}}
    return yaml.safe_dump(data)


def test_gvnic_only_where_the_image_supports_it(gcp: GcpProject) -> None:
    gcp.world.add_image("my-rl-project", "old-image", ["UEFI_COMPATIBLE"])
    result = up(gcp.spec(_sampler_on_old_image("g2-standard-8")))
    assert "does not support gVNIC; its VMs keep the default NIC" in result.text
    types = rendered("t-nic")["available_node_types"]
    assert "nicType" not in types["sampler"]["node_config"]["networkInterfaces"][0]

    required = _sampler_on_old_image("a3-highgpu-8g")  # A3 needs gVNIC
    mark = gcp.fake.mark()
    failed = run_cli("up", str(gcp.spec(required, "a3.yaml")), "--yes", "--provision-only")
    assert failed.code == 1 and "does not support gVNIC, which a3-highgpu-8g needs" in failed.text
    assert gcp.fake.mutations(mark) == []


def test_placement_policy_from_an_earlier_spec_is_still_removed(gcp: GcpProject) -> None:
    text = GCP_TEMPLATES["gcp-multi-node"]
    up(gcp.spec(text))
    assert gcp.world.resource_policies
    without = gcp.spec(text.replace("placement: compact", "placement: none"))
    assert not any(kind == "placement_policy" for _, kind, _ in plan_rows(without))
    down(without)
    assert gcp.world.resource_policies == {} and leftovers(gcp.world, "rl-gcp") == []


def test_head_address_is_the_running_heads_ip(gcp: GcpProject) -> None:
    from provisioner.clouds.base import ProvisionContext
    from provisioner.clouds.gcp.lifecycle import GcpProvisioner
    from provisioner.progress import Progress
    from provisioner.spec import load_spec
    from provisioner.state import ClusterState

    spec = load_spec(gcp.spec(GCP_TEMPLATES["gcp-single-node-8gpu"]))
    ctx = ProvisionContext(spec=spec, state=ClusterState(name=spec.name, cloud="gcp"), progress=Progress.silent())
    gcp_provisioner = GcpProvisioner()
    assert gcp_provisioner.head_address(ctx) is None
    gcp.world.add_instance("w", {"ray-cluster-name": spec.name, "ray-node-type": "worker"})
    gcp.world.add_instance("stopped-head", {"ray-cluster-name": spec.name, "ray-node-type": "head"}, status="TERMINATED")
    head = gcp.world.add_instance("h", {"ray-cluster-name": spec.name, "ray-node-type": "head"})
    interface = head["networkInterfaces"][0]
    assert gcp_provisioner.head_address(ctx) == interface["accessConfigs"][0]["natIP"]
    internal = load_spec(
        gcp.spec(GCP_TEMPLATES["gcp-single-node-8gpu"].replace("network:\n", "network:\n  use_internal_ips: true\n"), "internal.yaml")
    )
    assert gcp_provisioner.head_address(ProvisionContext(spec=internal, state=ctx.state, progress=ctx.progress)) == interface["networkIP"]


def test_a_same_named_resource_rlcloud_did_not_make_is_never_taken_over(gcp: GcpProject) -> None:
    spec = gcp.spec(GCP_TEMPLATES["gcp-single-node-8gpu"])
    ssh_rule = naming.gcp_firewall_ssh("rl-gcp-1node")
    theirs = {
        "name": ssh_rule,
        "network": "https://www.googleapis.com/compute/v1/projects/my-rl-project/global/networks/default",
        "direction": "INGRESS",
        "priority": 1000,
        "sourceRanges": ["0.0.0.0/0"],
        "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}],
        "description": "made by hand",
        "targetTags": ["bastion"],
    }
    gcp.world.firewalls[("my-rl-project", ssh_rule)] = dict(theirs)
    result = run_cli("up", str(spec), "--yes", "--provision-only")
    assert result.code == 1 and f"firewall_rule {ssh_rule} already exists but was not created by rlcloud" in result.text
    assert gcp.fake.mutations() == []
    down(spec)
    assert gcp.world.firewalls == {("my-rl-project", ssh_rule): theirs}
