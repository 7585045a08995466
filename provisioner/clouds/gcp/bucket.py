"""The gs:// checkpoint bucket: created only when the spec asks, granted to the nodes on the
bucket itself (never project-wide storage roles), deleted only by `down --purge-storage` and
only when rlcloud created it.

A bucket rlcloud creates has uniform bucket-level access (IAM only, no object ACLs), public
access prevention enforced and object versioning on; Cloud Storage encrypts at rest by
default. It carries the labels rlcloud-cluster=NAME and rlcloud-managed=true, which is how
`down` tells it from a user's bucket when the state file is gone.

With uniform access the nodes' grant carries an IAM condition limiting object access to the
checkpoint prefix (listing is checked on the bucket, so the bucket's own name is allowed
too). A user's bucket without uniform access cannot hold conditions: the grant is then
bucket-wide, and the plan says so.
"""

from __future__ import annotations

from typing import Any

from provisioner import naming
from provisioner.clouds.gcp.clients import GcpClients
from provisioner.clouds.gcp.errors import create_or_adopt, delete_if_present, describe_failure, gcp_call
from provisioner.clouds.gcp.iam_policy import Grant, Policy, member_roles, remove_member, service_account_member
from provisioner.clouds.gcp.identity import apply_grant, created_email, forget_grants, plan_grant
from provisioner.clouds.gcp.scope import Scope
from provisioner.errors import CloudError
from provisioner.plan import PlannedResource
from provisioner.spec.models import GcpClusterSpec

KIND = "bucket"


def checkpoint_bucket(spec: GcpClusterSpec) -> str | None:
    """The gs:// bucket checkpoints go to, if any."""
    return spec.storage.bucket if spec.storage.scheme == "gs" else None


def managed_labels(cluster: str) -> dict[str, str]:
    return {naming.TAG_KEY: cluster, naming.MANAGED_TAG_KEY: "true"}


def is_managed(bucket: Any, cluster: str) -> bool:
    labels = bucket.labels or {}
    return labels.get(naming.TAG_KEY) == cluster and labels.get(naming.MANAGED_TAG_KEY) == "true"


def has_uniform_access(bucket: Any) -> bool:
    return bool(bucket.iam_configuration.uniform_bucket_level_access_enabled)


def get_bucket(clients: GcpClients, name: str) -> Any | None:
    with gcp_call(f"reading bucket gs://{name}", clients.project):
        return clients.storage.lookup_bucket(name)


def create_bucket(clients: GcpClients, spec: GcpClusterSpec, name: str) -> Any:
    bucket = clients.storage.bucket(name)
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    bucket.iam_configuration.public_access_prevention = "enforced"
    bucket.versioning_enabled = True
    bucket.labels = managed_labels(spec.name)
    create_or_adopt(f"creating bucket gs://{name}", clients.project, lambda: clients.storage.create_bucket(bucket, location=spec.region))
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
        with gcp_call(f"reading the IAM policy of {self.description}", self.clients.project):
            return self.clients.storage.bucket(self.name).get_iam_policy(requested_policy_version=3).to_api_repr()

    def write(self, policy: Policy) -> None:
        from google.api_core.iam import Policy as ApiPolicy

        self.clients.storage.bucket(self.name).set_iam_policy(ApiPolicy.from_api_repr(policy))


def purge_bucket(clients: GcpClients, name: str) -> bool:
    """Delete every object version, then the bucket; False when it was already gone."""

    def purge() -> None:
        bucket = clients.storage.bucket(name)
        for blob in clients.storage.list_blobs(name, versions=True):
            bucket.delete_blob(blob.name, generation=blob.generation)
        bucket.delete()

    return delete_if_present(f"deleting bucket gs://{name} and its checkpoints", clients.project, purge)


class CheckpointStep:
    """The gs:// checkpoint bucket (if any) and the created account's grant on it."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.name = checkpoint_bucket(scope.spec)
        # Only the account rlcloud creates is granted; a user's account keeps its bindings.
        self.email = None if scope.spec.identity.service_account else created_email(scope.spec)

    def _bucket_for_up(self) -> Any | None:
        assert self.name is not None
        bucket = get_bucket(self.scope.clients, self.name)
        if bucket is None and not self.scope.spec.storage.create_bucket:
            raise CloudError(
                f"checkpoint bucket gs://{self.name} does not exist",
                hint="create it, or set storage.create_bucket: true to have rlcloud create it",
            )
        return bucket

    def _grant(self, bucket: Any | None) -> Grant | None:
        if self.email is None:
            return None
        return checkpoint_grant(self.scope.spec, self.email, uniform_access=bucket is None or has_uniform_access(bucket))

    def plan_up(self) -> list[PlannedResource]:
        if self.name is None:
            return []
        bucket = self._bucket_for_up()
        if bucket is None:
            planned = [PlannedResource(kind=KIND, name=f"gs://{self.name}", action="create", detail=f"{self.scope.spec.region}, uniform access, public access prevented, versioned")]
        elif is_managed(bucket, self.scope.spec.name):
            planned = [PlannedResource(kind=KIND, name=f"gs://{self.name}", action="keep", detail="created by rlcloud")]
        else:
            planned = [PlannedResource(kind=KIND, name=f"gs://{self.name}", action="use", detail="yours: never modified or deleted; only the grant below is added")]
        grant = self._grant(bucket)
        if grant is not None and self.email is not None:
            granted = plan_grant(BucketPolicy(self.scope.clients, self.name), grant, self.email, exists=bucket is not None)
            if grant.condition is None and self.scope.spec.storage.prefix:
                granted[0].detail = "whole bucket: it has no uniform bucket-level access, so no prefix condition"
            planned += granted
        return planned

    def apply(self) -> None:
        if self.name is None:
            return
        bucket = self._bucket_for_up()
        if bucket is None:
            self.scope.step(f"creating bucket gs://{self.name}")
            bucket = create_bucket(self.scope.clients, self.scope.spec, self.name)
        self.scope.record(KIND, self.name, region=self.scope.spec.region, created=is_managed(bucket, self.scope.spec.name))
        grant = self._grant(bucket)
        if grant is not None and self.email is not None:
            apply_grant(self.scope, BucketPolicy(self.scope.clients, self.name), grant, self.email)

    def _found(self) -> tuple[Any | None, list[str]]:
        """(the bucket, roles the created account holds on it)."""
        if self.name is None:
            return None, []
        bucket = get_bucket(self.scope.clients, self.name)
        if bucket is None:
            return None, []
        email = created_email(self.scope.spec)
        return bucket, member_roles(BucketPolicy(self.scope.clients, self.name).read(), email)

    def _deletes_bucket(self, bucket: Any | None, purge_storage: bool) -> bool:
        return bucket is not None and purge_storage and is_managed(bucket, self.scope.spec.name)

    def plan_down(self, purge_storage: bool) -> list[PlannedResource]:
        bucket, roles = self._found()
        planned = [PlannedResource(kind="iam_binding", name=f"{role} on bucket gs://{self.name}", action="delete") for role in roles]
        if bucket is None:
            return planned
        if self._deletes_bucket(bucket, purge_storage):
            planned.append(PlannedResource(kind=KIND, name=f"gs://{self.name}", action="delete", detail="and every checkpoint in it (--purge-storage)"))
        elif is_managed(bucket, self.scope.spec.name):
            planned.append(PlannedResource(kind=KIND, name=f"gs://{self.name}", action="keep", detail="checkpoints kept; --purge-storage deletes it"))
        else:
            planned.append(PlannedResource(kind=KIND, name=f"gs://{self.name}", action="keep", detail="yours: never deleted"))
        return planned

    def destroy(self, purge_storage: bool) -> list[str]:
        bucket, roles = self._found()
        email = created_email(self.scope.spec)
        left = []
        if roles and self.name is not None:
            self.scope.step(f"removing {email} from gs://{self.name}")
            try:
                remove_member(BucketPolicy(self.scope.clients, self.name), email)
                forget_grants(self.scope, "bucket", self.name)
            except CloudError as exc:
                left.append(
                    f"binding of {email} on gs://{self.name}: {describe_failure(exc)} "
                    f"(gcloud storage buckets remove-iam-policy-binding gs://{self.name} --member serviceAccount:{email} --role ROLE --all)"
                )
        elif self.name is not None:
            forget_grants(self.scope, "bucket", self.name)
        if self._deletes_bucket(bucket, purge_storage) and self.name is not None:
            self.scope.step(f"deleting bucket gs://{self.name} and its checkpoints")
            try:
                purge_bucket(self.scope.clients, self.name)
                self.scope.forget(KIND, self.name)
            except CloudError as exc:
                left.append(f"bucket gs://{self.name}: {describe_failure(exc)} (gcloud storage rm -r gs://{self.name})")
        return left
