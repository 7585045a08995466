"""Which service account each node runs as, and what each account rlcloud manages may hold
(pure: no Google call; the compiler reads it too).

Two accounts per cluster, as on AWS, because workers run the least trusted code (RL sampler
and verification tasks execute model-generated programs):
- head: `autoscaler_role` on the project (its autoscaler creates, labels and deletes worker
  VMs), roles/iam.serviceAccountUser on the worker account only (launching a VM that runs as
  an account needs actAs on that account), and the checkpoint grant on the bucket;
- worker: the checkpoint grant on the bucket, nothing else: it cannot create or delete VMs,
  act as any account, or read anything outside the checkpoint prefix.

Accounts the user names (identity.service_account / worker_service_account) are used as is:
rlcloud reads nothing of them and changes no binding.
"""

from __future__ import annotations

from provisioner.clouds.gcp.iam_policy import Grant, Holding, service_account_member
from provisioner.compile.gcp_accounts import MANAGED_ROLES as MANAGED_ROLES
from provisioner.compile.gcp_accounts import NodeAccounts as NodeAccounts
from provisioner.compile.gcp_accounts import managed_email as managed_email
from provisioner.compile.gcp_accounts import node_accounts as node_accounts
from provisioner.spec.models import GcpClusterSpec

ACT_AS_ROLE = "roles/iam.serviceAccountUser"


def project_holdings(spec: GcpClusterSpec) -> list[Holding]:
    """On the project: the head's autoscaler role; the worker, nothing."""
    accounts = node_accounts(spec)
    autoscaler = Grant(target="project", resource=spec.project, role=spec.identity.autoscaler_role, member=service_account_member(accounts.head))
    return [Holding(accounts.head, autoscaler), Holding(accounts.worker)]


def worker_account_holdings(spec: GcpClusterSpec) -> list[Holding]:
    """On the worker account's own policy: the head may act as it (to launch workers as it);
    the worker may not act as itself (nothing it runs needs to)."""
    accounts = node_accounts(spec)
    act_as = Grant(target="service_account", resource=accounts.worker, role=ACT_AS_ROLE, member=service_account_member(accounts.head))
    return [Holding(accounts.head, act_as), Holding(accounts.worker)]
