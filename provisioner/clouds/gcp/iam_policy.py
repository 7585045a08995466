"""IAM policy edits for rlcloud's service accounts: make each account rlcloud manages hold
exactly what the spec gives it on a resource (revoking roles it held there before, e.g. after
the spec changed a role), or remove them; other members' bindings are never touched.

Policies are the REST JSON shape ({"version", "etag", "bindings": [{"role", "members",
"condition"}]}) whatever resource they sit on (project, service account, bucket), so the
same pure functions serve all three. Writes are read-modify-write with the policy's etag; a
concurrent change makes the write fail as not-yet-consistent, and the reconciler, which runs
every write (bindings.py), reads and edits again: someone else's binding added meanwhile is
never lost.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from provisioner.clouds.gcp.errors import ERRORS

Policy = dict[str, Any]
CONDITIONAL_POLICY_VERSION = 3  # required as soon as any binding carries a condition


def service_account_member(email: str) -> str:
    return f"serviceAccount:{email}"


def _member_matches(member: str, email: str) -> bool:
    # A deleted account's bindings linger as "deleted:serviceAccount:EMAIL?uid=123".
    return member == service_account_member(email) or member.startswith(f"deleted:{service_account_member(email)}?uid=")


@dataclass(frozen=True)
class Grant:
    """One role for one member on one resource, optionally under a condition."""

    target: str  # "project" | "service_account" | "bucket"
    resource: str  # project id, service account email, bucket name
    role: str
    member: str
    condition: dict[str, str] | None = field(default=None, hash=False)

    @property
    def key(self) -> str:
        return f"{self.target}:{self.resource}:{self.role}:{self.member}"

    def label(self) -> str:
        """For plans: the head and the workers may hold the same role on one resource."""
        scope = f" ({self.condition['description']})" if self.condition else ""
        return f"{self.role} on {where(self.target, self.resource)} to {account_id(self.member)}{scope}"


TARGET_WORDS = {"project": "project", "service_account": "service account", "bucket": "bucket"}


def where(target: str, resource: str) -> str:
    """e.g. "service account rlcloud-x-worker@p.iam.gserviceaccount.com"."""
    return f"{TARGET_WORDS[target]} {resource}"


def account_id(member_or_email: str) -> str:
    """The short name plans show: rlcloud-x-head for serviceAccount:rlcloud-x-head@p.iam...."""
    return member_or_email.removeprefix("serviceAccount:").split("@", 1)[0]


@dataclass(frozen=True)
class Holding:
    """What one account rlcloud manages should hold on one resource: exactly `grant`, or
    nothing at all (`grant` None)."""

    email: str
    grant: Grant | None = None


def _is(binding: dict[str, Any], grant: Grant) -> bool:
    return binding.get("role") == grant.role and (binding.get("condition") or None) == grant.condition


def has_grant(policy: Policy, grant: Grant) -> bool:
    return any(_is(b, grant) and grant.member in b.get("members", []) for b in policy.get("bindings", []))


def without_member(policy: Policy, email: str, keep: Grant | None = None) -> Policy:
    """A copy of `policy` with the service account (live or deleted) removed from every
    binding except `keep`'s; bindings left without members are dropped."""
    result = copy.deepcopy(policy)
    kept = []
    for binding in result.get("bindings", []):
        if keep is None or not _is(binding, keep):
            binding["members"] = [m for m in binding.get("members", []) if not _member_matches(m, email)]
        if binding.get("members"):
            kept.append(binding)
    result["bindings"] = kept
    return result


def with_grant(policy: Policy, grant: Grant) -> Policy:
    """A copy of `policy` that also grants `grant` (other bindings untouched)."""
    result = copy.deepcopy(policy)
    bindings = result.setdefault("bindings", [])
    binding = next((b for b in bindings if _is(b, grant)), None)
    if binding is None:
        binding = {"role": grant.role, "members": []}
        if grant.condition:
            binding["condition"] = dict(grant.condition)
        bindings.append(binding)
    if grant.member not in binding.setdefault("members", []):
        binding["members"].append(grant.member)
    if any(b.get("condition") for b in bindings):
        result["version"] = CONDITIONAL_POLICY_VERSION
    return result


def converged(policy: Policy, holdings: Sequence[Holding]) -> Policy:
    """`policy` where each account holds exactly its holding (a role it no longer needs, e.g.
    after the spec changed autoscaler_role, is revoked)."""
    for holding in holdings:
        policy = without_member(policy, holding.email, keep=holding.grant)
        if holding.grant is not None:
            policy = with_grant(policy, holding.grant)
    return policy


def _bindings(policy: Policy) -> set[tuple[str, tuple[str, ...], str]]:
    return {
        (b.get("role", ""), tuple(sorted(b.get("members", []))), str(sorted((b.get("condition") or {}).items()))) for b in policy.get("bindings", [])
    }


def same_bindings(a: Policy, b: Policy) -> bool:
    return _bindings(a) == _bindings(b)


def member_roles(policy: Policy, email: str) -> list[str]:
    """Roles in `policy` that name the service account (live or deleted)."""
    return sorted({b["role"] for b in policy.get("bindings", []) if any(_member_matches(m, email) for m in b.get("members", []))})


def stale_roles(policy: Policy, holding: Holding) -> list[str]:
    """Roles the account holds in `policy` besides its grant (what converging revokes)."""
    others = [b for b in policy.get("bindings", []) if holding.grant is None or not _is(b, holding.grant)]
    return member_roles({"bindings": others}, holding.email)


class PolicyResource(Protocol):
    """A resource whose IAM policy rlcloud edits."""

    description: str  # for messages, e.g. "project my-proj"

    def read(self) -> Policy: ...

    def write(self, policy: Policy) -> None: ...


def _read_modify_write(resource: PolicyResource, edit: Callable[[Policy], Policy]) -> Policy:
    """Read, edit, write with the read's etag (a stale etag fails the write: read again);
    returns the policy as it now is. Nothing is written when nothing differs."""
    policy = resource.read()
    wanted = edit(policy)
    if same_bindings(policy, wanted):
        return policy
    with ERRORS.calls(f"updating the IAM policy of {resource.description}"):
        resource.write(wanted)
    return wanted


def converge(resource: PolicyResource, holdings: Sequence[Holding]) -> Policy:
    """Make each account hold exactly its holding on `resource`, in one write."""
    return _read_modify_write(resource, lambda p: converged(p, holdings))


def remove_members(resource: PolicyResource, emails: Sequence[str]) -> Policy:
    """Remove the service accounts from every binding, in one write."""
    return converge(resource, [Holding(email) for email in emails])
