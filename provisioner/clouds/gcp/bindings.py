"""rlcloud's accounts on one IAM policy (the project's, the worker account's, the checkpoint
bucket's), declared as one reconciler `Resource`: it exists while any of the cluster's
accounts is a member there, drifts when they hold other than the spec gives them, and is
deleted by removing them from every binding of that policy. Other members are never touched.

One Resource per policy, not per grant: the head and the worker change together in one
read-modify-write, so a policy is never left half-converged by rlcloud, and a role the spec
no longer gives (a changed autoscaler_role) is revoked by the same write that grants the new.
"""

from __future__ import annotations

from collections.abc import Sequence

from provisioner.clouds.gcp.iam_policy import (
    Holding,
    Policy,
    PolicyResource,
    account_id,
    converge,
    has_grant,
    member_roles,
    remove_members,
    stale_roles,
    where,
)
from provisioner.clouds.reconcile import Resource

KIND = "iam_binding"


def _changes(policy: Policy, holdings: Sequence[Holding], target: str, name: str) -> list[str]:
    """What converging `policy` to `holdings` would grant and revoke, in words."""
    changes = [f"grant {h.grant.label()}" for h in holdings if h.grant is not None and not has_grant(policy, h.grant)]
    for holding in holdings:
        changes += [f"revoke {role} on {where(target, name)} from {account_id(holding.email)}" for role in stale_roles(policy, holding)]
    return changes


def bindings_resource(
    policy: PolicyResource,
    target: str,
    name: str,
    emails: Sequence[str],
    holdings: Sequence[Holding] = (),
    *,
    depends_on: tuple[str, ...] = (),
    inside: str | None = None,
    note: str = "",
    delete_command: str = "",
) -> Resource[Policy]:
    """The accounts `emails` on the policy of `target` `name` ("project" / "service_account" /
    "bucket", and its id). `holdings`: what each should hold, for `up` (empty for `down`).
    `depends_on`: the accounts (and the bucket) it names, deleted after it; `inside`: the key
    of the account whose own policy this is (it goes with the account)."""

    def read() -> Policy | None:
        # The resource (a bucket or an account not made yet) missing reads NotFound: absent.
        current = policy.read()
        return current if any(member_roles(current, email) for email in emails) else None

    def write() -> Policy:
        return converge(policy, holdings)

    grants = [h.grant.label() for h in holdings if h.grant is not None]
    return Resource(
        kind=KIND,
        name=where(target, name),
        state_id=f"{target}:{name}",
        read=read,
        create=write,
        update=lambda _: write(),
        delete=lambda _: remove_members(policy, emails),
        drift=lambda current: "; ".join(_changes(current, holdings, target, name)) or None,
        extra=lambda _: {"target": target, "resource": name, "grants": grants},
        depends_on=depends_on,
        inside=inside,
        detail="; ".join(grants) + (f" ({note})" if note else ""),
        delete_command=delete_command,
    )
