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

from dataclasses import dataclass
from functools import partial
from typing import Any

from provisioner import naming
from provisioner.clouds.gcp.accounts import MANAGED_ROLES, managed_email, node_accounts, project_holdings, worker_account_holdings
from provisioner.clouds.gcp.bindings import Bindings, forget_recorded
from provisioner.clouds.gcp.clients import GcpClients
from provisioner.clouds.gcp.errors import ERRORS, unless_exists, unless_missing
from provisioner.clouds.gcp.iam_policy import Policy, account_id
from provisioner.clouds.gcp.scope import Scope
from provisioner.clouds.ownership import description_says_ours
from provisioner.errors import CloudError
from provisioner.plan import PlannedResource
from provisioner.spec.models import GcpClusterSpec

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


def get_account(clients: GcpClients, email: str) -> dict[str, Any] | None:
    accounts = clients.iam.projects().serviceAccounts()
    with ERRORS.calls(f"reading service account {email}"):
        return unless_missing(lambda: accounts.get(name=account_path(clients.project, email)).execute())


def create_account(clients: GcpClients, spec: GcpClusterSpec, role: str) -> None:
    email = managed_email(spec, role)
    body = {
        "accountId": account_id(email),
        "serviceAccount": {
            "displayName": f"rlcloud {spec.name} {role}",
            "description": f"{naming.gcp_managed_marker(spec.name)} {PURPOSE[role]} (rlcloud cluster {spec.name}); deleted by `rlcloud down`.",
        },
    }
    accounts = clients.iam.projects().serviceAccounts()
    # Already there (an earlier run whose answer was lost): find_accounts checks it is ours.
    with ERRORS.calls(f"creating service account {email}"):
        unless_exists(lambda: accounts.create(name=f"projects/{clients.project}", body=body).execute())


def delete_account(clients: GcpClients, email: str) -> None:
    """Delete; already gone is done too."""
    accounts = clients.iam.projects().serviceAccounts()
    with ERRORS.calls(f"deleting service account {email}"):
        unless_missing(lambda: accounts.delete(name=account_path(clients.project, email)).execute())


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


@dataclass(frozen=True)
class Found:
    """An account name of the cluster, and whether the account exists. One that does not may
    still have bindings, as deleted members ("deleted:serviceAccount:...?uid=..."), e.g. when
    `down` deleted it but then failed to clean a bucket: removing those is always safe."""

    role: str
    email: str
    exists: bool


def find_accounts(scope: Scope, roles: tuple[str, ...] = MANAGED_ROLES, *, refuse_foreign: bool = False) -> dict[str, Found]:
    """The cluster's accounts among `roles`, by role: every name, unless an account of that
    name exists that is someone else's (no cluster marker, not in the state). That one is left
    out, so none of its bindings is touched; with `refuse_foreign` (an account `up` would
    create) it is an error."""
    found: dict[str, Found] = {}
    for role in roles:
        email = managed_email(scope.spec, role)
        account = scope.read_once(f"{ACCOUNT_KIND}:{email}", partial(get_account, scope.clients, email))
        if (
            account is not None
            and not description_says_ours(account.get("description"), scope.spec.name)
            and scope.recorded(ACCOUNT_KIND, email) is None
        ):
            if refuse_foreign:
                raise CloudError(
                    f"service account {email} exists but rlcloud did not create it for cluster {scope.spec.name}",
                    hint="name it in identity.service_account to use it as is, or rename the cluster",
                )
            continue
        found[role] = Found(role, email, exists=account is not None)
    return found


def retire_account(scope: Scope, found: Found) -> None:
    """Delete an account whose bindings are gone, and forget it."""
    if found.exists:
        scope.step(f"deleting service account {found.email}")
        scope.unread(f"{ACCOUNT_KIND}:{found.email}")
        delete_account(scope.clients, found.email)
    forget_recorded(scope, "service_account", found.email)  # its own policy went with it
    scope.forget(ACCOUNT_KIND, found.email)


class IdentityStep:
    """The head and worker accounts, the head's grant on the project and its actAs on the
    worker account; nothing at all for accounts the user names. `down` removes every account
    of the cluster from the project's policy, then deletes them."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.nodes = node_accounts(scope.spec)

    def _project(self) -> Bindings:
        return Bindings(self.scope, ProjectPolicy(self.scope.clients), "project", self.scope.project)

    def _worker_policy(self) -> Bindings:
        return Bindings(self.scope, AccountPolicy(self.scope.clients, self.nodes.worker), "service_account", self.nodes.worker)

    def _user_accounts(self) -> list[PlannedResource]:
        spec = self.scope.spec
        scopes = ", ".join(spec.identity.scopes)
        if self.nodes.head == self.nodes.worker:
            return [
                PlannedResource(
                    kind=ACCOUNT_KIND, name=self.nodes.head, action="use", detail=f"yours, head and workers, bindings unchanged; scopes: {scopes}"
                )
            ]
        return [
            PlannedResource(kind=ACCOUNT_KIND, name=self.nodes.head, action="use", detail=f"yours, the head, bindings unchanged; scopes: {scopes}"),
            PlannedResource(
                kind=ACCOUNT_KIND, name=self.nodes.worker, action="use", detail=f"yours, the workers, bindings unchanged; scopes: {scopes}"
            ),
        ]

    def plan_up(self) -> list[PlannedResource]:
        if not self.nodes.created:
            return self._user_accounts()
        found = find_accounts(self.scope, refuse_foreign=True)
        scopes = ", ".join(self.scope.spec.identity.scopes)
        planned = [
            PlannedResource(
                kind=ACCOUNT_KIND,
                name=email,
                action="keep" if role in found and found[role].exists else "create",
                detail=f"{RUNS_AS[role]}; scopes: {scopes}",
            )
            for role, email in (("head", self.nodes.head), ("worker", self.nodes.worker))
        ]
        planned += self._project().plan(project_holdings(self.scope.spec), readable=True)
        worker = found.get("worker")
        planned += self._worker_policy().plan(worker_account_holdings(self.scope.spec), readable=worker is not None and worker.exists)
        return planned

    def apply(self) -> None:
        if not self.nodes.created:
            return
        found = find_accounts(self.scope, refuse_foreign=True)
        for role, email in (("head", self.nodes.head), ("worker", self.nodes.worker)):
            if role not in found or not found[role].exists:
                self.scope.step(f"creating service account {email}")
                self.scope.unread(f"{ACCOUNT_KIND}:{email}")
                create_account(self.scope.clients, self.scope.spec, role)
            self.scope.record(ACCOUNT_KIND, email, role=role)
        self._project().apply(project_holdings(self.scope.spec))
        self._worker_policy().apply(worker_account_holdings(self.scope.spec))

    def plan_down(self, purge_storage: bool) -> list[PlannedResource]:
        found = find_accounts(self.scope)
        planned = self._project().plan_removal([f.email for f in found.values()])
        return planned + [PlannedResource(kind=ACCOUNT_KIND, name=f.email, action="delete") for f in found.values() if f.exists]

    def destroy(self, purge_storage: bool) -> list[str]:
        found = find_accounts(self.scope)
        project = self.scope.project
        left = self._project().remove(
            [f.email for f in found.values()],
            manual=lambda email: f"gcloud projects remove-iam-policy-binding {project} --member serviceAccount:{email} --role ROLE, for each role",
        )
        if left:
            return left  # keep the accounts: deleting them would leave bindings to deleted members
        for role in ("worker", "head"):  # the worker's policy names the head, and goes with it
            if role not in found:
                continue
            try:
                retire_account(self.scope, found[role])
            except CloudError as exc:
                email = found[role].email
                left.append(f"service account {email}: {exc.message} (gcloud iam service-accounts delete {email} --project {project} --quiet)")
        return left
