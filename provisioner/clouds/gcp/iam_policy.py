"""IAM policy edits for rlcloud's service account: make it hold exactly one grant on a
resource (revoking roles it held there before, e.g. after the spec changed a role), or
remove it; other members' bindings are never touched.

Policies are the REST JSON shape ({"version", "etag", "bindings": [{"role", "members",
"condition"}]}) whatever resource they sit on (project, service account, bucket), so the
same pure functions serve all three. Writes are read-modify-write with the policy's etag; a
concurrent change makes the write fail and we read again, so someone else's binding added
meanwhile is never lost.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from provisioner.clouds.gcp.errors import gcp_call, is_concurrent_change, is_new_member_not_visible

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
        return f"{self.target}:{self.resource}:{self.role}"

    def label(self) -> str:
        where = {"project": "project", "service_account": "service account", "bucket": "bucket"}[self.target]
        scope = f" ({self.condition['description']})" if self.condition else ""
        return f"{self.role} on {where} {self.resource}{scope}"


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


def converged(policy: Policy, grant: Grant, email: str) -> Policy:
    """`policy` where the account holds exactly `grant` (a role it no longer needs, e.g.
    after the spec changed autoscaler_role, is revoked)."""
    return with_grant(without_member(policy, email, keep=grant), grant)


def _bindings(policy: Policy) -> set[tuple[str, tuple[str, ...], str]]:
    return {(b.get("role", ""), tuple(sorted(b.get("members", []))), str(sorted((b.get("condition") or {}).items()))) for b in policy.get("bindings", [])}


def same_bindings(a: Policy, b: Policy) -> bool:
    return _bindings(a) == _bindings(b)


def member_roles(policy: Policy, email: str) -> list[str]:
    """Roles in `policy` that name the service account (live or deleted)."""
    return sorted({b["role"] for b in policy.get("bindings", []) if any(_member_matches(m, email) for m in b.get("members", []))})


def stale_roles(policy: Policy, grant: Grant, email: str) -> list[str]:
    """Roles the account holds in `policy` besides `grant` (what converging revokes)."""
    others = [b for b in policy.get("bindings", []) if not _is(b, grant)]
    return member_roles({"bindings": others}, email)


class PolicyResource(Protocol):
    """A resource whose IAM policy rlcloud edits."""

    description: str  # for messages, e.g. "project my-proj"

    def read(self) -> Policy: ...

    def write(self, policy: Policy) -> None: ...


def _read_modify_write(resource: PolicyResource, edit: Callable[[Policy], Policy], sleep: Callable[[float], None]) -> bool:
    attempts = 5
    with gcp_call(f"updating the IAM policy of {resource.description}"):
        for attempt in range(attempts):
            policy = resource.read()
            wanted = edit(policy)
            if same_bindings(policy, wanted):
                return False
            try:
                resource.write(wanted)
                return True
            except Exception as exc:
                retry = is_concurrent_change(exc) or is_new_member_not_visible(exc)
                if not retry or attempt == attempts - 1:
                    raise
                sleep(2.0 * (attempt + 1))
    return False  # unreachable: the last attempt returns or raises


def converge_grant(resource: PolicyResource, grant: Grant, email: str, sleep: Callable[[float], None] = time.sleep) -> bool:
    """Make the account hold exactly `grant` on `resource`; True when the policy was written."""
    return _read_modify_write(resource, lambda p: converged(p, grant, email), sleep)


def remove_member(resource: PolicyResource, email: str, sleep: Callable[[float], None] = time.sleep) -> bool:
    """Remove the service account from every binding; True when the policy was written."""
    return _read_modify_write(resource, lambda p: without_member(p, email), sleep)
