"""The nodes' service account and the two grants it needs, and nothing broader.

- `autoscaler_role` (default roles/compute.instanceAdmin.v1) on the project: the head's
  autoscaler creates, labels, lists and deletes worker VMs and their boot disks, which needs
  compute.instances.* / compute.disks.create and the `use` permissions on the subnetwork,
  resource policy and images. instanceAdmin.v1 is the narrowest predefined role holding all
  of them; it carries no firewall, network, IAM or storage administration (Ray's default,
  roles/compute.admin, also administers firewalls and networks). Instance creation is
  checked against the project, so no lower level (zone, instance) can hold this grant.
- roles/iam.serviceAccountUser on the service account itself (its own IAM policy, not the
  project's): launching a VM that runs as an account needs actAs on that account.
Checkpoint access is granted on the bucket (bucket.py). A user-named service account is used
as is: rlcloud reads nothing of it and changes no binding.
"""

from __future__ import annotations

from typing import Any

from provisioner import naming
from provisioner.clouds.gcp.clients import GcpClients
from provisioner.clouds.gcp.errors import create_or_adopt, delete_if_present, describe_failure, gcp_call, read_or_none
from provisioner.clouds.gcp.iam_policy import (
    Grant,
    Policy,
    PolicyResource,
    converge_grant,
    converged,
    has_grant,
    member_roles,
    remove_member,
    same_bindings,
    service_account_member,
    stale_roles,
)
from provisioner.clouds.gcp.scope import Scope
from provisioner.errors import CloudError
from provisioner.plan import PlannedResource
from provisioner.spec.models import GcpClusterSpec

ACT_AS_ROLE = "roles/iam.serviceAccountUser"
ACCOUNT_KIND = "service_account"
BINDING_KIND = "iam_binding"


def created_email(spec: GcpClusterSpec) -> str:
    return naming.gcp_service_account_email(spec.name, spec.project)


def node_email(spec: GcpClusterSpec) -> str:
    """The account the nodes run as: the user's, or the one rlcloud creates."""
    return spec.identity.service_account or created_email(spec)


def account_path(project: str, email: str) -> str:
    return f"projects/{project}/serviceAccounts/{email}"


def grants(spec: GcpClusterSpec) -> list[Grant]:
    """What the created account is granted outside the bucket (none for a user's account)."""
    if spec.identity.service_account:
        return []
    email = created_email(spec)
    member = service_account_member(email)
    return [
        Grant(target="project", resource=spec.project, role=spec.identity.autoscaler_role, member=member),
        Grant(target="service_account", resource=email, role=ACT_AS_ROLE, member=member),
    ]


def get_account(clients: GcpClients, email: str) -> dict[str, Any] | None:
    accounts = clients.iam.projects().serviceAccounts()
    return read_or_none(f"reading service account {email}", clients.project, lambda: accounts.get(name=account_path(clients.project, email)).execute())


def is_managed(account: dict[str, Any], cluster: str) -> bool:
    return naming.gcp_managed_marker(cluster) in (account.get("description") or "")


def create_account(clients: GcpClients, spec: GcpClusterSpec) -> None:
    body = {
        "accountId": naming.gcp_service_account_id(spec.name),
        "serviceAccount": {
            "displayName": f"rlcloud {spec.name} nodes",
            "description": f"{naming.gcp_managed_marker(spec.name)} Ray nodes of rlcloud cluster {spec.name}; deleted by `rlcloud down`.",
        },
    }
    accounts = clients.iam.projects().serviceAccounts()
    create_or_adopt(
        f"creating service account {created_email(spec)}",
        clients.project,
        lambda: accounts.create(name=f"projects/{clients.project}", body=body).execute(),
    )


def delete_account(clients: GcpClients, email: str) -> bool:
    """Delete; False when it was already gone."""
    accounts = clients.iam.projects().serviceAccounts()
    return delete_if_present(f"deleting service account {email}", clients.project, lambda: accounts.delete(name=account_path(clients.project, email)).execute())


class ProjectPolicy:
    """The project's IAM policy (Resource Manager v3)."""

    def __init__(self, clients: GcpClients) -> None:
        self.clients = clients
        self.description = f"project {clients.project}"

    def read(self) -> Policy:
        with gcp_call(f"reading the IAM policy of {self.description}", self.clients.project):
            return self.clients.resource_manager.projects().getIamPolicy(
                resource=f"projects/{self.clients.project}", body={"options": {"requestedPolicyVersion": 3}}
            ).execute()

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
        with gcp_call(f"reading the IAM policy of {self.description}", self.clients.project):
            return self.clients.iam.projects().serviceAccounts().getIamPolicy(resource=self.path, options_requestedPolicyVersion=3).execute()

    def write(self, policy: Policy) -> None:
        self.clients.iam.projects().serviceAccounts().setIamPolicy(resource=self.path, body={"policy": policy}).execute()


def plan_grant(resource: PolicyResource, grant: Grant, email: str, exists: bool) -> list[PlannedResource]:
    """How converging `grant` would change `resource`'s policy (create / keep, and revocations)."""
    if not exists:
        return [PlannedResource(kind=BINDING_KIND, name=grant.label(), action="create")]
    policy = resource.read()
    planned = [PlannedResource(kind=BINDING_KIND, name=grant.label(), action="keep" if has_grant(policy, grant) else "create")]
    planned += [
        PlannedResource(kind=BINDING_KIND, name=f"{role} on {resource.description}", action="delete", detail="no longer in the spec")
        for role in stale_roles(policy, grant, email)
    ]
    return planned


def apply_grant(scope: Scope, resource: PolicyResource, grant: Grant, email: str) -> None:
    policy = resource.read()
    if not same_bindings(policy, converged(policy, grant, email)):
        scope.step(f"granting {grant.label()}")
        converge_grant(resource, grant, email)
    scope.record(BINDING_KIND, grant.key, target=grant.target, resource=grant.resource, role=grant.role, member=grant.member)


def forget_grants(scope: Scope, target: str, resource: str) -> None:
    for item in [r for r in scope.ctx.state.resources if r.kind == BINDING_KIND]:
        if item.extra.get("target") == target and item.extra.get("resource") == resource:
            scope.forget(BINDING_KIND, item.id)


class IdentityStep:
    """The service account rlcloud creates (nothing at all for a user-named one)."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.email = created_email(scope.spec)

    def _policy(self, grant: Grant) -> PolicyResource:
        return ProjectPolicy(self.scope.clients) if grant.target == "project" else AccountPolicy(self.scope.clients, grant.resource)

    def _account(self) -> dict[str, Any] | None:
        account = get_account(self.scope.clients, self.email)
        if account is not None and not is_managed(account, self.scope.spec.name) and not self.scope.recorded(ACCOUNT_KIND, self.email):
            raise CloudError(
                f"service account {self.email} exists but rlcloud did not create it for cluster {self.scope.spec.name}",
                hint="name it in identity.service_account to use it as is, or rename the cluster",
            )
        return account

    def plan_up(self) -> list[PlannedResource]:
        spec = self.scope.spec
        scopes = ", ".join(spec.identity.scopes)
        if spec.identity.service_account:
            return [
                PlannedResource(
                    kind=ACCOUNT_KIND,
                    name=spec.identity.service_account,
                    action="use",
                    detail=f"yours, bindings unchanged; scopes: {scopes}",
                )
            ]
        account = self._account()
        planned = [PlannedResource(kind=ACCOUNT_KIND, name=self.email, action="keep" if account else "create", detail=f"head and workers run as it; scopes: {scopes}")]
        for grant in grants(spec):
            planned += plan_grant(self._policy(grant), grant, self.email, exists=account is not None)
        return planned

    def apply(self) -> None:
        if self.scope.spec.identity.service_account:
            return
        if self._account() is None:
            self.scope.step(f"creating service account {self.email}")
            create_account(self.scope.clients, self.scope.spec)
        self.scope.record(ACCOUNT_KIND, self.email)
        for grant in grants(self.scope.spec):
            apply_grant(self.scope, self._policy(grant), grant, self.email)

    def _found(self) -> tuple[bool, list[str]]:
        """(account exists and is ours, roles it holds on the project) - nothing when the
        account is someone else's."""
        account = get_account(self.scope.clients, self.email)
        recorded = self.scope.recorded(ACCOUNT_KIND, self.email) is not None
        if account is not None and not (is_managed(account, self.scope.spec.name) or recorded):
            return False, []
        if account is None and not recorded:
            return False, []
        return account is not None, member_roles(ProjectPolicy(self.scope.clients).read(), self.email)

    def plan_down(self, purge_storage: bool) -> list[PlannedResource]:
        exists, roles = self._found()
        planned = [PlannedResource(kind=BINDING_KIND, name=f"{role} on project {self.scope.project}", action="delete") for role in roles]
        if exists:
            planned.append(PlannedResource(kind=ACCOUNT_KIND, name=self.email, action="delete"))
        return planned

    def destroy(self, purge_storage: bool) -> list[str]:
        exists, roles = self._found()
        if roles:
            self.scope.step(f"removing {self.email} from the project's IAM policy")
            try:
                remove_member(ProjectPolicy(self.scope.clients), self.email)
            except CloudError as exc:
                # Keep the account: deleting it would leave a binding to a deleted member.
                return [
                    f"project binding of {self.email} ({', '.join(roles)}): {describe_failure(exc)} "
                    f"(gcloud projects remove-iam-policy-binding {self.scope.project} --member "
                    f"serviceAccount:{self.email} --role ROLE, for each role)"
                ]
        forget_grants(self.scope, "project", self.scope.project)
        if exists:
            self.scope.step(f"deleting service account {self.email}")
            try:
                delete_account(self.scope.clients, self.email)
            except CloudError as exc:
                return [f"service account {self.email}: {describe_failure(exc)} (gcloud iam service-accounts delete {self.email} --project {self.scope.project} --quiet)"]
        forget_grants(self.scope, "service_account", self.email)  # its own policy went with it
        self.scope.forget(ACCOUNT_KIND, self.email)
        return []
