"""Security audit of every GCP cluster rlcloud provisions, read back through the Google SDK
clients after `up`, against the rules in DESIGN.md:

- no Ray port is reachable from outside the cluster; SSH only from the spec's CIDRs (checked
  by evaluating GCE's firewall semantics over *every* rule on the network, including the
  default VPC's own broad rules, not just the ones rlcloud wrote);
- intra-cluster traffic allowed by network tag;
- least privilege: the nodes' service account holds the autoscaler role on the project and
  nothing broader, actAs on itself only, and the checkpoint role on the bucket (prefix only);
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
from tests.gcp.helpers import cluster_name, rendered, up
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
    {"name": "default-allow-internal", "sourceRanges": ["10.128.0.0/9"], "allowed": [{"IPProtocol": "tcp", "ports": ["0-65535"]}, {"IPProtocol": "udp", "ports": ["0-65535"]}]},
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


@pytest.mark.parametrize("which", sorted(SPECS))
def test_cluster_passes_the_security_audit(gcp: GcpProject, which: str) -> None:
    text = SPECS[which]
    cluster = cluster_name(text)
    for rule in DEFAULT_VPC_RULES:
        gcp.world.firewalls[("my-rl-project", rule["name"])] = {
            **rule, "network": "https://www.googleapis.com/compute/v1/projects/my-rl-project/global/networks/default",
            "direction": "INGRESS", "priority": 65534, "disabled": False, "description": "Default VPC rule",
        }
    if "t-gcp-ckpt" in text:
        add_bucket(gcp.world, "t-gcp-ckpt")
    up(gcp.spec(text))
    clients = GcpClients("my-rl-project")
    tag = naming.gcp_network_tag(cluster)
    email = naming.gcp_service_account_email(cluster, "my-rl-project")
    member = f"serviceAccount:{email}"
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

    # --- identity: exactly the grants it needs, on the narrowest resource that holds them
    project_roles = {b["role"] for b in ProjectPolicy(clients).read()["bindings"] if member in b["members"]}
    assert project_roles == {"roles/compute.instanceAdmin.v1"}
    assert not any(r in BROAD or r.endswith(".admin") for r in project_roles)
    assert AccountPolicy(clients, email).read()["bindings"] == [{"role": "roles/iam.serviceAccountUser", "members": [member]}]
    bucket_name = next(line.split("gs://", 1)[1].split("/", 1)[0] for line in text.splitlines() if "checkpoint_uri: gs://" in line)
    bucket_policy = BucketPolicy(clients, bucket_name).read()
    grants = [b for b in bucket_policy["bindings"] if member in b["members"]]
    assert [b["role"] for b in grants] == ["roles/storage.objectUser"]
    assert grants[0]["condition"]["expression"].endswith(f'startsWith("projects/_/buckets/{bucket_name}/objects/runs/")')
    assert not any(m in ("allUsers", "allAuthenticatedUsers") for b in bucket_policy["bindings"] for m in b["members"])
    if "create_bucket: true" in text:
        bucket = clients.storage.get_bucket(bucket_name)
        assert bucket.iam_configuration.uniform_bucket_level_access_enabled
        assert bucket.iam_configuration.public_access_prevention == "enforced"

    # --- the rendered config: every node tagged, running as that account; token auth, local dashboard
    config = rendered(cluster)
    assert "gcp_credentials" not in config["provider"]
    for node_type in config["available_node_types"].values():
        nc = node_type["node_config"]
        assert nc["tags"]["items"] == [tag] and nc["serviceAccounts"][0]["email"] == email
        assert {"key": "block-project-ssh-keys", "value": "true"} in nc["metadata"]["items"]
    head_start = config["head_start_ray_commands"][-1]
    assert "RAY_AUTH_MODE=token" in head_start and "--dashboard-host=127.0.0.1" in head_start
    token = (naming.state_dir(cluster) / "auth_token").read_text().strip()
    assert token and token not in yaml.safe_dump(config)


def test_public_ssh_is_only_ssh(gcp: GcpProject) -> None:
    text = GCP.replace("ssh_cidrs: [203.0.113.0/24]", "ssh_cidrs: [0.0.0.0/0]\n  allow_public_ssh: true")
    add_bucket(gcp.world, "t-gcp-ckpt")
    up(gcp.spec(text))
    rules = list(GcpClients("my-rl-project").firewalls.list(project="my-rl-project"))
    node = {naming.gcp_network_tag("t-gcp")}
    assert admitted(rules, node, Packet(OUTSIDE, (), "tcp", 22))
    assert not any(admitted(rules, node, Packet(OUTSIDE, (), "tcp", port)) for port in RAY_PORTS)
