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

from collections.abc import Sequence
from typing import Any

from provisioner.clouds.gcp.accounts import node_accounts
from provisioner.clouds.gcp.bindings import bindings_resource
from provisioner.clouds.gcp.clients import GcpClients
from provisioner.clouds.gcp.errors import ERRORS
from provisioner.clouds.gcp.iam_policy import Grant, Holding, Policy, service_account_member
from provisioner.clouds.ownership import cluster_tags, tags_say_ours
from provisioner.clouds.reconcile import Resource
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


def _create(clients: GcpClients, spec: GcpClusterSpec, name: str) -> Any:
    bucket = clients.storage.bucket(name)
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    bucket.iam_configuration.public_access_prevention = "enforced"
    bucket.versioning_enabled = True
    bucket.labels = cluster_tags(spec.name)
    clients.storage.create_bucket(bucket, location=spec.region)
    return clients.storage.lookup_bucket(name)


def _purge(clients: GcpClients, name: str) -> None:
    """Every object version, then the bucket (a versioned bucket keeps deleted objects)."""
    bucket = clients.storage.bucket(name)
    for blob in clients.storage.list_blobs(name, versions=True):
        bucket.delete_blob(blob.name, generation=blob.generation)
    bucket.delete()


def bucket_resource(clients: GcpClients, spec: GcpClusterSpec, name: str, *, recorded: bool, kept_on_down: str | None = None) -> Resource[Any]:
    """The checkpoint bucket rlcloud creates (or created: recorded, or labelled as ours)."""
    return Resource(
        kind=KIND,
        name=f"gs://{name}",
        state_id=name,
        region=spec.region,
        read=lambda: clients.storage.lookup_bucket(name),
        create=lambda: _create(clients, spec, name),
        delete=lambda _: _purge(clients, name),
        owned=lambda found: recorded or is_managed(found, spec.name),
        detail=f"{spec.region}, uniform access, public access prevented, versioned",
        kept_on_down=kept_on_down,
        foreign_hint="name a bucket of yours without create_bucket, or pick another bucket name",
        delete_command=f"gcloud storage rm -r gs://{name}",
    )


def users_bucket(clients: GcpClients, name: str) -> Resource[Any]:
    """A bucket the user brought: read, used, never modified or deleted."""
    return Resource(
        kind=KIND,
        name=f"gs://{name}",
        state_id=name,
        read=lambda: clients.storage.lookup_bucket(name),
        detail="yours: never modified or deleted; only the grants below are added",
        missing_hint="create it, or set storage.create_bucket: true to have rlcloud create it",
    )


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


def bucket_holdings(spec: GcpClusterSpec, uniform_access: bool) -> list[Holding]:
    """The same checkpoint grant for the head and the workers (for accounts rlcloud creates)."""
    accounts = node_accounts(spec)
    if not accounts.created:
        return []
    return [Holding(email, checkpoint_grant(spec, email, uniform_access)) for email in (accounts.head, accounts.worker)]


def bucket_bindings(
    clients: GcpClients, name: str, emails: Sequence[str], holdings: Sequence[Holding] = (), *, depends_on: tuple[str, ...] = ()
) -> Resource[Policy]:
    """The cluster's accounts on the bucket's own IAM policy (never project-wide storage roles)."""
    whole = any(h.grant is not None and h.grant.condition is None for h in holdings)
    return bindings_resource(
        BucketPolicy(clients, name),
        "bucket",
        name,
        emails,
        holdings,
        depends_on=depends_on,
        note="whole bucket: it has no uniform bucket-level access, so no prefix condition" if whole else "",
        delete_command=f"gcloud storage buckets remove-iam-policy-binding gs://{name} --member serviceAccount:EMAIL --role ROLE --all, for each of {', '.join(emails)}",
    )
