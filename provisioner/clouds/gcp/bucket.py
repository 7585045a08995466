"""The gs:// checkpoint bucket: created only when the spec asks, granted to the head's and the
workers' accounts on the bucket itself (never project-wide storage roles), deleted only by
`down --purge-storage` and only when rlcloud created it.

A bucket rlcloud creates has uniform bucket-level access (IAM only, no object ACLs), public
access prevention enforced and object versioning on; Cloud Storage encrypts at rest by
default. It carries the labels rlcloud-cluster=NAME and rlcloud-managed=true, which is how
`down` tells it from a user's bucket when the state file is gone.

With uniform access the nodes' grants carry an IAM condition limiting object access to the
checkpoint prefix (listing is checked on the bucket, so the bucket's own name is allowed
too). A user's bucket without uniform access cannot hold conditions: the grant is then
bucket-wide, and the plan says so.
"""

from __future__ import annotations

from typing import Any

from provisioner.clouds.gcp.accounts import node_accounts
from provisioner.clouds.gcp.bindings import Bindings
from provisioner.clouds.gcp.clients import GcpClients
from provisioner.clouds.gcp.errors import ERRORS, unless_exists, unless_missing
from provisioner.clouds.gcp.iam_policy import Grant, Holding, Policy, service_account_member
from provisioner.clouds.gcp.identity import find_accounts
from provisioner.clouds.gcp.scope import Scope
from provisioner.clouds.ownership import cluster_tags, tags_say_ours
from provisioner.errors import CloudError
from provisioner.plan import PlannedResource
from provisioner.spec.models import GcpClusterSpec

KIND = "bucket"


def checkpoint_bucket(spec: GcpClusterSpec) -> str | None:
    """The gs:// bucket checkpoints go to, if any."""
    return spec.storage.bucket if spec.storage.scheme == "gs" else None


def is_managed(bucket: Any, cluster: str) -> bool:
    return tags_say_ours(bucket.labels, cluster)


def has_uniform_access(bucket: Any) -> bool:
    return bool(bucket.iam_configuration.uniform_bucket_level_access_enabled)


def get_bucket(clients: GcpClients, name: str) -> Any | None:
    with ERRORS.calls(f"reading bucket gs://{name}"):
        return clients.storage.lookup_bucket(name)


def create_bucket(clients: GcpClients, spec: GcpClusterSpec, name: str) -> Any:
    bucket = clients.storage.bucket(name)
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    bucket.iam_configuration.public_access_prevention = "enforced"
    bucket.versioning_enabled = True
    bucket.labels = cluster_tags(spec.name)
    with ERRORS.calls(f"creating bucket gs://{name}"):
        unless_exists(lambda: clients.storage.create_bucket(bucket, location=spec.region))
    # Read back either way: a 409 means it exists (ours from a lost answer, or someone else's).
    found = get_bucket(clients, name)
    assert found is not None
    return found


def checkpoint_grant(spec: GcpClusterSpec, email: str, uniform_access: bool) -> Grant | None:
    bucket = checkpoint_bucket(spec)
    if bucket is None:
        return None
    condition = None
    prefix = spec.storage.prefix
    if prefix and uniform_access:
        condition = {
            "title": f"rlcloud-{spec.name}-checkpoints",
            "description": f"Objects under gs://{bucket}/{prefix}/ only",
            "expression": f'resource.name == "projects/_/buckets/{bucket}" || '
            f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{prefix}/")',
        }
    return Grant(target="bucket", resource=bucket, role=spec.identity.checkpoint_role, member=service_account_member(email), condition=condition)


class BucketPolicy:
    """A bucket's IAM policy, in the same dict shape as project and account policies."""

    def __init__(self, clients: GcpClients, name: str) -> None:
        self.clients = clients
        self.name = name
        self.description = f"bucket gs://{name}"

    def read(self) -> Policy:
        with ERRORS.calls(f"reading the IAM policy of {self.description}"):
            policy: Policy = self.clients.storage.bucket(self.name).get_iam_policy(requested_policy_version=3).to_api_repr()
        return policy

    def write(self, policy: Policy) -> None:
        from google.api_core.iam import Policy as ApiPolicy

        self.clients.storage.bucket(self.name).set_iam_policy(ApiPolicy.from_api_repr(policy))  # type: ignore[no-untyped-call]  # google-api-core leaves it unannotated


def purge_bucket(clients: GcpClients, name: str) -> None:
    """Delete every object version, then the bucket; already gone is done too."""

    def purge() -> None:
        bucket = clients.storage.bucket(name)
        for blob in clients.storage.list_blobs(name, versions=True):
            bucket.delete_blob(blob.name, generation=blob.generation)
        bucket.delete()

    with ERRORS.calls(f"deleting bucket gs://{name} and its checkpoints"):
        unless_missing(purge)


def bucket_holdings(spec: GcpClusterSpec, uniform_access: bool) -> list[Holding]:
    """The same checkpoint grant for the head and the workers (for accounts rlcloud creates)."""
    accounts = node_accounts(spec)
    if not accounts.created:
        return []
    return [Holding(email, checkpoint_grant(spec, email, uniform_access)) for email in (accounts.head, accounts.worker)]


class CheckpointStep:
    """The gs:// checkpoint bucket (if any) and rlcloud's accounts' grants on it."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.name = checkpoint_bucket(scope.spec)

    def _bucket_for_up(self) -> Any | None:
        assert self.name is not None
        bucket = get_bucket(self.scope.clients, self.name)
        if bucket is None and not self.scope.spec.storage.create_bucket:
            raise CloudError(
                f"checkpoint bucket gs://{self.name} does not exist",
                hint="create it, or set storage.create_bucket: true to have rlcloud create it",
            )
        return bucket

    def _bindings(self) -> Bindings:
        assert self.name is not None
        return Bindings(self.scope, BucketPolicy(self.scope.clients, self.name), "bucket", self.name)

    def _holdings(self, bucket: Any | None) -> list[Holding]:
        """Only accounts rlcloud creates are granted; a user's account keeps its bindings."""
        if not node_accounts(self.scope.spec).created:
            return []
        return bucket_holdings(self.scope.spec, uniform_access=bucket is None or has_uniform_access(bucket))

    def plan_up(self) -> list[PlannedResource]:
        if self.name is None:
            return []
        bucket = self._bucket_for_up()
        if bucket is None:
            planned = [
                PlannedResource(
                    kind=KIND,
                    name=f"gs://{self.name}",
                    action="create",
                    detail=f"{self.scope.spec.region}, uniform access, public access prevented, versioned",
                )
            ]
        elif is_managed(bucket, self.scope.spec.name):
            planned = [PlannedResource(kind=KIND, name=f"gs://{self.name}", action="keep", detail="created by rlcloud")]
        else:
            planned = [
                PlannedResource(
                    kind=KIND, name=f"gs://{self.name}", action="use", detail="yours: never modified or deleted; only the grants below are added"
                )
            ]
        holdings = self._holdings(bucket)
        granted = self._bindings().plan(holdings, readable=bucket is not None)
        if self.scope.spec.storage.prefix and any(h.grant is not None and h.grant.condition is None for h in holdings):
            for row in granted:
                if row.action != "delete":
                    row.detail = "whole bucket: it has no uniform bucket-level access, so no prefix condition"
        return planned + granted

    def apply(self) -> None:
        if self.name is None:
            return
        bucket = self._bucket_for_up()
        if bucket is None:
            self.scope.step(f"creating bucket gs://{self.name}")
            bucket = create_bucket(self.scope.clients, self.scope.spec, self.name)
        self.scope.record(KIND, self.name, region=self.scope.spec.region, created=is_managed(bucket, self.scope.spec.name))
        holdings = self._holdings(bucket)
        if holdings:
            self._bindings().apply(holdings)

    def _found(self) -> tuple[Any | None, list[str]]:
        """(the bucket, the cluster's accounts whose bindings on it `down` removes)."""
        if self.name is None:
            return None, []
        bucket = get_bucket(self.scope.clients, self.name)
        if bucket is None:
            return None, []
        return bucket, [found.email for found in find_accounts(self.scope).values()]

    def _deletes_bucket(self, bucket: Any | None, purge_storage: bool) -> bool:
        return bucket is not None and purge_storage and is_managed(bucket, self.scope.spec.name)

    def plan_down(self, purge_storage: bool) -> list[PlannedResource]:
        bucket, emails = self._found()
        if bucket is None:
            return []
        planned = self._bindings().plan_removal(emails) if emails else []
        if self._deletes_bucket(bucket, purge_storage):
            planned.append(
                PlannedResource(kind=KIND, name=f"gs://{self.name}", action="delete", detail="and every checkpoint in it (--purge-storage)")
            )
        elif is_managed(bucket, self.scope.spec.name):
            planned.append(PlannedResource(kind=KIND, name=f"gs://{self.name}", action="keep", detail="checkpoints kept; --purge-storage deletes it"))
        else:
            planned.append(PlannedResource(kind=KIND, name=f"gs://{self.name}", action="keep", detail="yours: never deleted"))
        return planned

    def destroy(self, purge_storage: bool) -> list[str]:
        if self.name is None:
            return []
        bucket, emails = self._found()
        name = self.name
        left: list[str] = []
        if emails:
            manual = lambda email: f"gcloud storage buckets remove-iam-policy-binding gs://{name} --member serviceAccount:{email} --role ROLE --all"  # noqa: E731
            left = self._bindings().remove(emails, manual=manual)
        else:
            self._bindings().forget()
        if self._deletes_bucket(bucket, purge_storage):
            self.scope.step(f"deleting bucket gs://{name} and its checkpoints")
            try:
                purge_bucket(self.scope.clients, name)
                self.scope.forget(KIND, name)
            except CloudError as exc:
                left.append(f"bucket gs://{name}: {exc.message} (gcloud storage rm -r gs://{name})")
        return left
