"""Names and tags of everything rlcloud creates, derived from the cluster name.

One module so the compiler (which references resources) and the provisioners (which create
and sweep them) can never disagree on a name. Cluster names are at most 32 characters of
[a-z0-9-] (see spec.models), which keeps every derived name within its cloud's limits.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

# The tag / label every rlcloud-created resource carries; `down` sweeps by it.
TAG_KEY = "rlcloud-cluster"
# Marks resources rlcloud created (as opposed to ones the user brought), so `down` never
# deletes a resource that merely carries the cluster tag because a user copied it.
MANAGED_TAG_KEY = "rlcloud-managed"

RLCLOUD_HOME_ENV = "RLCLOUD_HOME"


def rlcloud_home() -> Path:
    """Root of rlcloud's local state (~/.rlcloud unless RLCLOUD_HOME says otherwise)."""
    import os

    return Path(os.environ.get(RLCLOUD_HOME_ENV) or Path.home() / ".rlcloud")


def state_dir(cluster: str) -> Path:
    """Per-cluster state directory: token, SSH key, rendered Ray YAML, provisioning state."""
    return rlcloud_home() / "clusters" / cluster


def ray_config_path(cluster: str) -> Path:
    """The Ray cluster YAML `up` wrote for this cluster (what `ray up` / `ray down` read)."""
    return state_dir(cluster) / "ray-cluster.yaml"


def applied_ray_config_path(cluster: str) -> Path:
    """The Ray cluster YAML of the last `ray up` that succeeded (what the head runs now)."""
    return state_dir(cluster) / "ray-cluster.applied.yaml"


# Paths on the cluster's nodes.
REMOTE_TOKEN_PATH = "~/.rlcloud/auth_token"


def _short_hash(text: str, n: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


# --- AWS
def aws_security_group(cluster: str) -> str:
    return f"rlcloud-{cluster}"


def aws_placement_group(cluster: str) -> str:
    return f"rlcloud-{cluster}"


def aws_key_pair(cluster: str) -> str:
    return f"rlcloud-{cluster}"


def aws_role(cluster: str) -> str:
    return f"rlcloud-{cluster}-node"  # <= 45 chars; IAM allows 64


def aws_instance_profile(cluster: str) -> str:
    return f"rlcloud-{cluster}-node"


# The head gets a role of its own: it alone may launch / terminate the cluster's instances,
# while worker nodes (which run sampler and verification code) may only use checkpoints.
def aws_head_role(cluster: str) -> str:
    return f"rlcloud-{cluster}-head"


def aws_head_instance_profile(cluster: str) -> str:
    return f"rlcloud-{cluster}-head"


AWS_NODE_POLICY_NAME = "rlcloud-node"  # the one inline policy of each node role


def aws_default_bucket(cluster: str, account_id: str) -> str:
    return f"rlcloud-{cluster}-{account_id}"  # <= 53 chars; S3 allows 63


# --- GCP
def gcp_network_tag(cluster: str) -> str:
    return f"rlcloud-{cluster}"


def gcp_firewall_internal(cluster: str) -> str:
    return f"rlcloud-{cluster}-internal"


def gcp_firewall_ssh(cluster: str) -> str:
    return f"rlcloud-{cluster}-ssh"


def gcp_firewall_deny(cluster: str) -> str:
    """Denies every other ingress to the cluster's tag (overrides e.g. the default VPC's
    default-allow-ssh from 0.0.0.0/0, which would otherwise make ssh_cidrs meaningless)."""
    return f"rlcloud-{cluster}-deny"


def gcp_firewall_rules(cluster: str) -> tuple[str, str, str]:
    """Every firewall rule rlcloud creates for a cluster, in creation order."""
    return gcp_firewall_internal(cluster), gcp_firewall_ssh(cluster), gcp_firewall_deny(cluster)


def gcp_managed_marker(cluster: str) -> str:
    """Written into the description of GCP resources that have no labels (firewall rules,
    resource policies, service accounts), so `down` recognises them without the state file.
    The brackets keep cluster `a` from matching cluster `a-b`."""
    return f"[{TAG_KEY}={cluster}]"


def gcp_ray_instance_pattern(cluster: str) -> str:
    """RE2/Python regex of the instance names Ray's GCP provider gives this cluster's nodes
    (`ray-<cluster>-head-<8 hex>-compute`), for sweeping instances that lost their labels."""
    return f"ray-{cluster}-(head|worker)-[0-9a-f]{{8}}-compute"


def gcp_placement_policy(cluster: str) -> str:
    return f"rlcloud-{cluster}-compact"


def _gcp_service_account_id(cluster: str, suffix: str) -> str:
    """Service account ids are 6-30 chars of [a-z0-9-]. A longer one keeps a readable part of
    the cluster name, a hash of the whole name (two long names sharing a prefix still differ)
    and the suffix, so a head and a worker id never collide."""
    candidate = f"rlcloud-{cluster}{suffix}"  # >= 9 chars for the shortest (1-char) cluster name
    if len(candidate) <= 30:
        return candidate
    keep = 30 - len("rlcloud-") - len("-123456") - len(suffix)
    return f"rlcloud-{cluster[:keep].rstrip('-')}-{_short_hash(cluster)}{suffix}"


def _gcp_email(account_id: str, project: str) -> str:
    return f"{account_id}@{project}.iam.gserviceaccount.com"


# Two accounts per cluster, as on AWS: the head's autoscaler may create and delete VMs; the
# workers, which run model-generated sampler and verification code, may only use checkpoints.
def gcp_head_service_account_id(cluster: str) -> str:
    return _gcp_service_account_id(cluster, "-head")


def gcp_head_service_account_email(cluster: str, project: str) -> str:
    return _gcp_email(gcp_head_service_account_id(cluster), project)


def gcp_worker_service_account_id(cluster: str) -> str:
    return _gcp_service_account_id(cluster, "-worker")


def gcp_worker_service_account_email(cluster: str, project: str) -> str:
    return _gcp_email(gcp_worker_service_account_id(cluster), project)


# --- Azure
def azure_resource_group(cluster: str) -> str:
    return f"rlcloud-{cluster}"


def azure_nsg(cluster: str) -> str:
    return f"rlcloud-{cluster}-nsg"


def azure_vnet(cluster: str) -> str:
    return f"rlcloud-{cluster}-vnet"


def azure_subnet(cluster: str) -> str:
    return f"rlcloud-{cluster}-subnet"


def azure_ppg(cluster: str) -> str:
    return f"rlcloud-{cluster}-ppg"


def azure_identity(cluster: str) -> str:
    return f"rlcloud-{cluster}-identity"


def azure_worker_identity(cluster: str) -> str:
    """The learner's and samplers' identity: checkpoint storage only (never the head's)."""
    return f"rlcloud-{cluster}-worker"


def azure_data_resource_group(cluster: str) -> str:
    """Where a storage account rlcloud creates lives: not the cluster's own group, which
    `down` deletes whole, so checkpoints outlive the cluster."""
    return f"rlcloud-{cluster}-data"


def azure_tags(cluster: str) -> dict[str, str]:
    """Tags on every Azure resource rlcloud creates (and, through the node config, on Ray's VMs)."""
    return {TAG_KEY: cluster, MANAGED_TAG_KEY: "true"}


def azure_unique_id(cluster: str, resource_group: str) -> str:
    """Ray's `provider.unique_id`: part of every VM / NIC / IP / disk name Ray's provider makes."""
    return _short_hash(f"{resource_group}/{cluster}", 4)


def azure_ray_name_prefixes(cluster: str, unique_id: str) -> tuple[str, ...]:
    """Name prefixes of the VMs Ray launches for the cluster (and of their NICs, IPs, OS disks):
    Ray names them `<ray-node-name>-<unique_id>-<random>`, node names being ray-<cluster>-head/-worker."""
    return (f"ray-{cluster}-head-{unique_id}-", f"ray-{cluster}-worker-{unique_id}-")


def azure_role_definition_name(cluster: str, scope: str) -> str:
    """Custom role names are unique per Azure AD tenant, so the scope (subscription + resource
    group) is folded in: two subscriptions may each have a cluster with the same name."""
    return f"rlcloud-{cluster}-autoscaler-{_short_hash(scope.lower())}"


def azure_guid(kind: str, scope: str, cluster: str) -> str:
    """Deterministic GUID names (role definitions and assignments must be GUIDs), so a re-run
    of `up` finds what the last run made instead of making another."""
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"rlcloud:{kind}:{scope.lower()}:{cluster}"))
