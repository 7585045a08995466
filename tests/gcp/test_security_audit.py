"""Security audit of every GCP cluster rlcloud provisions, read back through the Google SDK
clients after `up`, against the README's security model:

- no Ray port is reachable from outside the cluster; SSH only from the spec's CIDRs (checked
  by evaluating GCE's firewall semantics over *every* rule on the network, including the
  default VPC's own broad rules, not just the ones rlcloud wrote);
- intra-cluster traffic allowed by network tag;
- least privilege: the head's account holds the autoscaler role on the project and nothing
  broader, actAs on the worker account only, and the checkpoint role on the bucket (prefix
  only); the workers' account (workers run model-generated code) holds that checkpoint grant
  and nothing else: it cannot create or delete VMs or act as any account;
- token auth on, dashboard on 127.0.0.1, no secret in the rendered config; buckets rlcloud
  creates block public access.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from provisioner import naming
from provisioner.api import templates
from provisioner.clouds.gcp.bucket import BucketPolicy
from provisioner.clouds.gcp.clients import GcpClients
from provisioner.clouds.gcp.identity import AccountPolicy, ProjectPolicy
from tests.gcp.conftest import OPERATOR_IP, GcpProject
from tests.gcp.fake_gcp.storage import add_bucket
from tests.gcp.helpers import accounts, cluster_name, rendered, up
from tests.support.specs import GCP

SPECS = {"tests-spec": GCP, **{t.name: t.text for t in templates() if t.name.startswith("gcp-")}}
RAY_PORTS = (6379, 8265, 10001, 8076, 52365, 20000)  # GCS, dashboard/Jobs, client, object manager, agent, a worker port
OUTSIDE = "8.8.8.8"
SAME_VPC_STRANGER = "10.128.0.99"  # another VM on the network, without the cluster's tag
# The rules a default VPC comes with (priority 65534), which rlcloud must not rely on or be undone by.
DEFAULT_VPC_RULES = [
    {"name": "default-allow-ssh", "sourceRanges": ["0.0.0.0/0"], "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}]},
    {"name": "default-allow-rdp", "sourceRanges": ["0.0.0.0/0"], "allowed": [{"IPProtocol": "tcp", "ports": ["3389"]}]},
    {"name": "default-allow-icmp", "sourceRanges": ["0.0.0.0/0"], "allowed": [{"IPProtocol": "icmp"}]},
    {
        "name": "default-allow-internal",
        "sourceRanges": ["10.128.0.0/9"],
        "allowed": [{"IPProtocol": "tcp", "ports": ["0-65535"]}, {"IPProtocol": "udp", "ports": ["0-65535"]}],
    },
]
BROAD = ("roles/owner", "roles/editor", "roles/viewer")


@dataclass(frozen=True)
class Packet:
    source_ip: str
    source_tags: tuple[str, ...]
    protocol: str
    port: int


def _ports_match(entry: Any, packet: Packet) -> bool:
    if entry.I_p_protocol not in ("all", packet.protocol):
        return False
    if not entry.ports:
        return True
    for spec in entry.ports:
        low, _, high = spec.partition("-")
        if int(low) <= packet.port <= int(high or low):
            return True
    return False


def admitted(rules: list[Any], target_tags: set[str], packet: Packet) -> bool:
    """GCE's ingress decision for a VM with `target_tags`: of the enabled rules that apply, the
    lowest priority number wins, deny before allow at a tie; no rule means denied."""
    matching = []
    for rule in rules:
        if rule.direction != "INGRESS" or rule.disabled:
            continue
        if rule.target_tags and not target_tags & set(rule.target_tags):
            continue
        from_range = any(ipaddress.ip_address(packet.source_ip) in ipaddress.ip_network(r) for r in rule.source_ranges)
        from_tag = bool(set(rule.source_tags) & set(packet.source_tags))
        if not (from_range or from_tag):
            continue
        for entry, allow in [*((a, True) for a in rule.allowed), *((d, False) for d in rule.denied)]:
            if _ports_match(entry, packet):
                matching.append((rule.priority, 0 if not allow else 1, allow))
    return bool(matching) and min(matching)[2]


def _held(policy: dict[str, Any], email: str) -> list[dict[str, Any]]:
    """The bindings of `policy` naming the account, as {role, condition?}."""
    member = f"serviceAccount:{email}"
    return [{k: v for k, v in b.items() if k != "members"} for b in policy.get("bindings", []) if member in b["members"]]


def audit_identities(clients: GcpClients, cluster: str, bucket: str) -> None:
    """Everything the cluster's two accounts hold, read back through the SDK: on the project,
    on every service account's own policy (who may act as whom), and on the bucket."""
    emails = accounts(cluster)
    project = ProjectPolicy(clients).read()
    listed = clients.iam.projects().serviceAccounts().list(name="projects/my-rl-project").execute()["accounts"]
    every_account = [a["email"] for a in listed]
    marker = naming.gcp_managed_marker(cluster)
    cluster_accounts = {a["email"] for a in listed if marker in a.get("description", "")}
    assert cluster_accounts == {emails["head"], emails["worker"]}, "head and workers each run as an account of their own"
    act_as = {account: AccountPolicy(clients, account).read() for account in every_account}
    bucket_policy = BucketPolicy(clients, bucket).read()
    prefix_only = f'startsWith("projects/_/buckets/{bucket}/objects/runs/")'

    # The head: the autoscaler role and nothing broader; it may act as the worker account only.
    head_roles = [b["role"] for b in _held(project, emails["head"])]
    assert head_roles == ["roles/compute.instanceAdmin.v1"], head_roles
    assert not any(r in BROAD or r.endswith(".admin") for r in head_roles)
    head_acts_as = {account: _held(policy, emails["head"]) for account, policy in act_as.items() if _held(policy, emails["head"])}
    assert head_acts_as == {emails["worker"]: [{"role": "roles/iam.serviceAccountUser"}]}, head_acts_as
    # Nobody of the cluster may act as the head's account (a worker could then become the head).
    assert act_as[emails["head"]].get("bindings", []) == []
    # The worker account's own policy names the head alone.
    assert [b["members"] for b in act_as[emails["worker"]]["bindings"]] == [[f"serviceAccount:{emails['head']}"]]

    # The workers: nothing on the project, nothing on any account; the checkpoint prefix only.
    assert _held(project, emails["worker"]) == [], "workers must not create or delete VMs"
    assert not any(_held(policy, emails["worker"]) for policy in act_as.values()), "workers must not act as any account"
    for role in ("head", "worker"):
        grants = _held(bucket_policy, emails[role])
        assert [g["role"] for g in grants] == ["roles/storage.objectUser"], (role, grants)
        assert grants[0]["condition"]["expression"].endswith(prefix_only), (role, grants)


@pytest.mark.parametrize("which", sorted(SPECS))
def test_cluster_passes_the_security_audit(gcp: GcpProject, which: str) -> None:
    text = SPECS[which]
    cluster = cluster_name(text)
    for rule in DEFAULT_VPC_RULES:
        gcp.world.firewalls[("my-rl-project", rule["name"])] = {
            **rule,
            "network": "https://www.googleapis.com/compute/v1/projects/my-rl-project/global/networks/default",
            "direction": "INGRESS",
            "priority": 65534,
            "disabled": False,
            "description": "Default VPC rule",
        }
    if "t-gcp-ckpt" in text:
        add_bucket(gcp.world, "t-gcp-ckpt")
    up(gcp.spec(text))
    clients = GcpClients("my-rl-project")
    tag = naming.gcp_network_tag(cluster)
    cidrs = [f"{OPERATOR_IP}/32"] if "ssh_cidrs: auto" in text else ["203.0.113.0/24"]
    operator = cidrs[0].split("/")[0] if cidrs[0].endswith("/32") else "203.0.113.10"

    # --- firewall: what actually reaches a node, over every rule on the network
    rules = list(clients.firewalls.list(project="my-rl-project"))
    node = {tag}
    for port in RAY_PORTS:
        for source in (OUTSIDE, SAME_VPC_STRANGER, operator):
            assert not admitted(rules, node, Packet(source, (), "tcp", port)), f"tcp:{port} reachable from {source}"
        assert admitted(rules, node, Packet("10.128.0.7", (tag,), "tcp", port)), f"nodes cannot reach each other on {port}"
    assert admitted(rules, node, Packet("10.128.0.7", (tag,), "udp", 4000))
    assert admitted(rules, node, Packet(operator, (), "tcp", 22))
    for source in (OUTSIDE, SAME_VPC_STRANGER):
        assert not admitted(rules, node, Packet(source, (), "tcp", 22)), "default-allow-ssh is not overridden"
        assert not admitted(rules, node, Packet(source, (), "icmp", 0))
    # ... and what rlcloud itself opened: intra-cluster by tag, tcp:22 from the spec's CIDRs, nothing else
    ours = [r for r in rules if tag in r.target_tags]
    assert {r.name for r in ours} == set(naming.gcp_firewall_rules(cluster))
    for rule in ours:
        assert list(rule.target_tags) == [tag]
        if rule.allowed:
            opens_by_tag = list(rule.source_tags) == [tag] and not rule.source_ranges
            ssh_only = [(a.I_p_protocol, list(a.ports)) for a in rule.allowed] == [("tcp", ["22"])] and sorted(rule.source_ranges) == sorted(cidrs)
            assert opens_by_tag or ssh_only, rule
            assert "0.0.0.0/0" not in rule.source_ranges

    # --- identity: exactly the grants each account needs, on the narrowest resource that holds them
    bucket_name = next(line.split("gs://", 1)[1].split("/", 1)[0] for line in text.splitlines() if "checkpoint_uri: gs://" in line)
    audit_identities(clients, cluster, bucket_name)
    bucket_policy = BucketPolicy(clients, bucket_name).read()
    assert not any(m in ("allUsers", "allAuthenticatedUsers") for b in bucket_policy["bindings"] for m in b["members"])
    if "create_bucket: true" in text:
        bucket = clients.storage.get_bucket(bucket_name)
        assert bucket.iam_configuration.uniform_bucket_level_access_enabled
        assert bucket.iam_configuration.public_access_prevention == "enforced"

    # --- the rendered config: every node tagged; the head runs as the head's account, every
    # worker type as the workers'; token auth, local dashboard
    config = rendered(cluster)
    assert "gcp_credentials" not in config["provider"]
    emails = accounts(cluster)
    for name, node_type in config["available_node_types"].items():
        nc = node_type["node_config"]
        runs_as = emails["head"] if name == config["head_node_type"] else emails["worker"]
        assert nc["tags"]["items"] == [tag] and [a["email"] for a in nc["serviceAccounts"]] == [runs_as]
        assert {"key": "block-project-ssh-keys", "value": "true"} in nc["metadata"]["items"]
    head_start = config["head_start_ray_commands"][-1]
    assert "RAY_AUTH_MODE=token" in head_start and "--dashboard-host=127.0.0.1" in head_start
    token = (naming.state_dir(cluster) / "auth_token").read_text().strip()
    assert token and token not in yaml.safe_dump(config)


def _grant(policy: dict[str, Any], role: str, email: str) -> None:
    policy.setdefault("bindings", []).append({"role": role, "members": [f"serviceAccount:{email}"]})


ACT_AS, AUTOSCALER = "roles/iam.serviceAccountUser", "roles/compute.instanceAdmin.v1"
# What the audit must catch, each one grant too many: (where, role, to whom). `where` is the
# project, the bucket, or an account's own policy (who may act as it).
TAMPERING = {
    "worker gets the autoscaler role": ("project", AUTOSCALER, "worker"),
    "worker may act as itself": ("worker", ACT_AS, "worker"),
    "worker may act as the head": ("head", ACT_AS, "worker"),
    "head may act as itself": ("head", ACT_AS, "head"),
    "worker reads the whole bucket": ("bucket", "roles/storage.objectViewer", "worker"),
    "head gets a broad role": ("project", "roles/editor", "head"),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERING))
def test_the_identity_audit_fails_on_one_grant_too_many(gcp: GcpProject, tampering: str) -> None:
    """The audit above can fail: after a clean `up`, one extra grant in the fake makes it fail."""
    add_bucket(gcp.world, "t-gcp-ckpt")
    up(gcp.spec(GCP))
    clients = GcpClients("my-rl-project")
    audit_identities(clients, "t-gcp", "t-gcp-ckpt")
    where, role, whom = TAMPERING[tampering]
    emails = accounts("t-gcp")
    policies = {"project": gcp.world.project_policy("my-rl-project"), "bucket": gcp.world.bucket_policies["t-gcp-ckpt"]}
    _grant(policies.get(where) or gcp.world.account_policies.setdefault(emails[where], {}), role, emails[whom])
    with pytest.raises(AssertionError):
        audit_identities(clients, "t-gcp", "t-gcp-ckpt")


def test_public_ssh_is_only_ssh(gcp: GcpProject) -> None:
    text = GCP.replace("ssh_cidrs: [203.0.113.0/24]", "ssh_cidrs: [0.0.0.0/0]\n  allow_public_ssh: true")
    add_bucket(gcp.world, "t-gcp-ckpt")
    up(gcp.spec(text))
    rules = list(GcpClients("my-rl-project").firewalls.list(project="my-rl-project"))
    node = {naming.gcp_network_tag("t-gcp")}
    assert admitted(rules, node, Packet(OUTSIDE, (), "tcp", 22))
    assert not any(admitted(rules, node, Packet(OUTSIDE, (), "tcp", port)) for port in RAY_PORTS)
