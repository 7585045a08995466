"""The service accounts rlcloud creates for a cluster and their grants outside the bucket
(accounts.py says who holds what, and why; the bucket's grants are bucket.py's):

- `autoscaler_role` (default roles/compute.instanceAdmin.v1) on the project, for the head
  only: its autoscaler creates, labels, lists and deletes worker VMs and their boot disks,
  which needs compute.instances.* / compute.disks.create and the `use` permissions on the
  subnetwork, resource policy and images. instanceAdmin.v1 is the narrowest predefined role
  holding all of them; it carries no firewall, network, IAM or storage administration (Ray's
  default, roles/compute.admin, also administers firewalls and networks). Instance creation
  is checked against the project, so no lower level (zone, instance) can hold this grant.
- roles/iam.serviceAccountUser for the head on the worker account's own IAM policy (not the
  project's): launching a VM that runs as an account needs actAs on that account, and the
  head launches only workers.
The worker account holds nothing here. Accounts the user names are used as is: rlcloud reads
nothing of them and changes no binding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from provisioner import naming
from provisioner.clouds.gcp.accounts import MANAGED_ROLES, managed_email, node_accounts, project_holdings, worker_account_holdings
from provisioner.clouds.gcp.bindings import bindings_resource
from provisioner.clouds.gcp.clients import GcpClients
from provisioner.clouds.gcp.errors import ERRORS, unless_missing
from provisioner.clouds.gcp.iam_policy import Policy, account_id
from provisioner.clouds.ownership import description_says_ours
from provisioner.clouds.reconcile import Resource, key_of, used
from provisioner.spec.models import GcpClusterSpec
from provisioner.state import ClusterState

ACCOUNT_KIND = "service_account"
# What each account is for, in its description (which also carries the cluster marker).
PURPOSE = {
    "head": "Ray head: its autoscaler launches and deletes the cluster's worker VMs",
    "worker": "Ray workers: checkpoint access only",
}


RUNS_AS = {
    "head": "the head runs as it: autoscaler role, actAs on the workers' account, checkpoints",
    "worker": "every worker runs as it: checkpoints only",
}


def account_path(project: str, email: str) -> str:
    return f"projects/{project}/serviceAccounts/{email}"


def account_resource(clients: GcpClients, spec: GcpClusterSpec, role: str, state: ClusterState) -> Resource[dict[str, Any]]:
    """One of the two accounts rlcloud creates for a cluster. Ours when its description carries
    the cluster marker, or the state recorded it; a same-named account that is neither stops
    `up` and is never deleted. The worker's goes first on `down`: its own policy names the head
    (actAs), so the head is deleted after nothing refers to it."""
    email = managed_email(spec, role)
    accounts = clients.iam.projects().serviceAccounts()
    path = account_path(clients.project, email)
    body = {
        "accountId": account_id(email),
        "serviceAccount": {
            "displayName": f"rlcloud {spec.name} {role}",
            "description": f"{naming.gcp_managed_marker(spec.name)} {PURPOSE[role]} (rlcloud cluster {spec.name}); deleted by `rlcloud down`.",
        },
    }
    recorded = any(r.kind == ACCOUNT_KIND and r.id == email for r in state.resources)

    def read() -> dict[str, Any]:
        found: dict[str, Any] = accounts.get(name=path).execute()
        return found

    def create() -> dict[str, Any]:
        accounts.create(name=f"projects/{clients.project}", body=body).execute()
        return read()

    head = key_of(ACCOUNT_KIND, managed_email(spec, "head"))
    return Resource(
        kind=ACCOUNT_KIND,
        name=email,
        read=read,
        create=create,
        delete=lambda _: accounts.delete(name=path).execute(),
        owned=lambda found: recorded or description_says_ours(found.get("description"), spec.name),
        extra=lambda _: {"role": role},
        depends_on=(head,) if role == "worker" else (),
        detail=f"{RUNS_AS[role]}; scopes: {', '.join(spec.identity.scopes)}",
        foreign_hint="name it in identity.service_account to use it as is, or rename the cluster",
        delete_command=f"gcloud iam service-accounts delete {email} --project {clients.project} --quiet",
    )


def users_accounts(spec: GcpClusterSpec) -> list[Resource[object]]:
    """Accounts the spec names: "use" rows, and nothing read or changed (not even bindings)."""
    nodes = node_accounts(spec)
    scopes = ", ".join(spec.identity.scopes)
    if nodes.head == nodes.worker:
        return [used(ACCOUNT_KIND, nodes.head, nodes.head, f"yours, head and workers, bindings unchanged; scopes: {scopes}")]
    return [
        used(ACCOUNT_KIND, nodes.head, nodes.head, f"yours, the head, bindings unchanged; scopes: {scopes}"),
        used(ACCOUNT_KIND, nodes.worker, nodes.worker, f"yours, the workers, bindings unchanged; scopes: {scopes}"),
    ]


class ProjectPolicy:
    """The project's IAM policy (Resource Manager v3)."""

    def __init__(self, clients: GcpClients) -> None:
        self.clients = clients
        self.description = f"project {clients.project}"

    def read(self) -> Policy:
        with ERRORS.calls(f"reading the IAM policy of {self.description}"):
            policy: Policy = (
                self.clients.resource_manager.projects()
                .getIamPolicy(resource=f"projects/{self.clients.project}", body={"options": {"requestedPolicyVersion": 3}})
                .execute()
            )
        return policy

    def write(self, policy: Policy) -> None:
        # Errors pass through unconverted: the read-modify-write loop retries on some.
        self.clients.resource_manager.projects().setIamPolicy(resource=f"projects/{self.clients.project}", body={"policy": policy}).execute()


class AccountPolicy:
    """A service account's own IAM policy (who may act as it)."""

    def __init__(self, clients: GcpClients, email: str) -> None:
        self.clients = clients
        self.path = account_path(clients.project, email)
        self.description = f"service account {email}"

    def read(self) -> Policy:
        with ERRORS.calls(f"reading the IAM policy of {self.description}"):
            policy: Policy = (
                self.clients.iam.projects().serviceAccounts().getIamPolicy(resource=self.path, options_requestedPolicyVersion=3).execute()
            )
        return policy

    def write(self, policy: Policy) -> None:
        self.clients.iam.projects().serviceAccounts().setIamPolicy(resource=self.path, body={"policy": policy}).execute()


def ours_by_name(clients: GcpClients, spec: GcpClusterSpec, state: ClusterState) -> list[str]:
    """The emails of the cluster's accounts whose bindings `down` may remove: every name rlcloud
    gives, unless an account of that name exists that is someone else's (no cluster marker,
    not in the state). An account already deleted may still be a member, as
    "deleted:serviceAccount:...?uid=...": removing that is always safe."""
    ours = []
    for role in MANAGED_ROLES:
        resource = account_resource(clients, spec, role, state)
        with ERRORS.calls(f"reading service account {resource.name}"):
            found = unless_missing(resource.read)
        if found is None or resource.owned(found):
            ours.append(resource.name)
    return ours


def identity_resources(clients: GcpClients, spec: GcpClusterSpec, state: ClusterState) -> list[Resource[Any]]:
    """For `up`: the accounts, the head's grant on the project, its actAs on the worker
    account's own policy; for accounts the user names, only "use" rows."""
    nodes = node_accounts(spec)
    if not nodes.created:
        return list(users_accounts(spec))
    head, worker = (account_resource(clients, spec, role, state) for role in ("head", "worker"))
    return [
        head,
        worker,
        bindings_resource(ProjectPolicy(clients), "project", clients.project, [nodes.head, nodes.worker], project_holdings(spec)),
        bindings_resource(
            AccountPolicy(clients, nodes.worker), "service_account", nodes.worker, [nodes.head, nodes.worker], worker_account_holdings(spec)
        ),
    ]


def identity_for_down(clients: GcpClients, spec: GcpClusterSpec, state: ClusterState, ours: Sequence[str]) -> list[Resource[Any]]:
    """For `down`: the accounts' bindings on the project (before the accounts), the worker
    account's own policy (with the account), then the accounts, worker first."""
    head, worker = (account_resource(clients, spec, role, state) for role in ("head", "worker"))
    project = clients.project
    return [
        bindings_resource(
            ProjectPolicy(clients),
            "project",
            project,
            ours,
            depends_on=(head.key, worker.key),
            delete_command=f"gcloud projects remove-iam-policy-binding {project} --member serviceAccount:EMAIL --role ROLE, for each of {', '.join(ours)}",
        ),
        bindings_resource(AccountPolicy(clients, worker.name), "service_account", worker.name, ours, inside=worker.key),
        worker,
        head,
    ]
