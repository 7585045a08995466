"""Which service account each node runs as: pure names from the spec, no Google call.

The compiler writes these emails into each node type's config, and the GCP provisioner
(provisioner/clouds/gcp/accounts.py) creates and grants the accounts; both read them here, so
compile/ needs nothing from clouds/.
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioner import naming
from provisioner.spec.models import GcpClusterSpec


@dataclass(frozen=True)
class NodeAccounts:
    head: str  # email the head runs as
    worker: str  # email every worker type runs as
    created: bool  # rlcloud creates and grants both; False: the user's, used as is


def node_accounts(spec: GcpClusterSpec) -> NodeAccounts:
    identity = spec.identity
    if identity.service_account:
        return NodeAccounts(head=identity.service_account, worker=identity.worker_service_account or identity.service_account, created=False)
    return NodeAccounts(head=managed_email(spec, "head"), worker=managed_email(spec, "worker"), created=True)


# The accounts rlcloud makes for a cluster, by the role they play.
MANAGED_ROLES = ("head", "worker")


def managed_email(spec: GcpClusterSpec, role: str) -> str:
    """The email of the account rlcloud makes for `role` ("head" / "worker"). `down` looks
    for both, whatever the spec says now (it may name the user's accounts since `up`)."""
    email = {"head": naming.gcp_head_service_account_email, "worker": naming.gcp_worker_service_account_email}[role]
    return email(spec.name, spec.project)
