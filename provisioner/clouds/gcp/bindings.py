"""The bindings rlcloud's accounts hold on one IAM policy (the project's, the worker account's,
the checkpoint bucket's): what `plan` shows, making them exactly what the spec says in one
policy write, recording them in the state, and removing them for `down`.

One write per resource, not per grant: the head and the worker change together, so a
resource's policy is never left half-converged by rlcloud.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from provisioner.clouds.gcp.iam_policy import (
    Holding,
    PolicyResource,
    account_id,
    converge,
    converged,
    has_grant,
    member_roles,
    remove_members,
    same_bindings,
    stale_roles,
    where,
)
from provisioner.clouds.gcp.scope import Scope
from provisioner.errors import CloudError
from provisioner.plan import PlannedResource

KIND = "iam_binding"


class Bindings:
    """rlcloud's accounts on one resource's IAM policy. `target` and `name` say which resource
    (as in Grant: "project" / "service_account" / "bucket", and its id)."""

    def __init__(self, scope: Scope, policy: PolicyResource, target: str, name: str) -> None:
        self.scope = scope
        self.policy = policy
        self.target = target
        self.name = name

    def _revocation(self, role: str, email: str, detail: str) -> PlannedResource:
        return PlannedResource(kind=KIND, name=f"{role} on {where(self.target, self.name)} to {account_id(email)}", action="delete", detail=detail)

    def plan(self, holdings: Sequence[Holding], *, readable: bool) -> list[PlannedResource]:
        """create / keep for each grant, delete for each role to revoke. `readable` False: the
        resource does not exist yet (its policy cannot be read), so every grant is new."""
        if not readable:
            return [PlannedResource(kind=KIND, name=h.grant.label(), action="create") for h in holdings if h.grant]
        current = self.policy.read()
        planned: list[PlannedResource] = []
        for holding in holdings:
            if holding.grant is not None:
                planned.append(
                    PlannedResource(kind=KIND, name=holding.grant.label(), action="keep" if has_grant(current, holding.grant) else "create")
                )
            planned += [self._revocation(role, holding.email, "no longer in the spec") for role in stale_roles(current, holding)]
        return planned

    def apply(self, holdings: Sequence[Holding]) -> None:
        """Make the policy hold exactly `holdings` (one write, only when something differs)
        and record the grants in the state, forgetting any recorded before that no longer hold."""
        current = self.policy.read()
        if not same_bindings(current, converged(current, holdings)):
            for holding in holdings:
                if holding.grant is not None and not has_grant(current, holding.grant):
                    self.scope.step(f"granting {holding.grant.label()}")
                for role in stale_roles(current, holding):
                    self.scope.step(f"revoking {role} on {where(self.target, self.name)} from {account_id(holding.email)}")
            converge(self.policy, holdings)
        wanted = {h.grant.key: h.grant for h in holdings if h.grant is not None}
        for item in self._recorded():
            if item not in wanted:
                self.scope.forget(KIND, item)
        for key, grant in wanted.items():
            self.scope.record(KIND, key, target=grant.target, resource=grant.resource, role=grant.role, member=grant.member)

    def plan_removal(self, emails: Sequence[str]) -> list[PlannedResource]:
        current = self.policy.read()
        return [self._revocation(role, email, "") for email in emails for role in member_roles(current, email)]

    def remove(self, emails: Sequence[str], manual: Callable[[str], str]) -> list[str]:
        """Remove the accounts from every binding (one write); [] when done, else one line per
        account with `manual(email)`, the command that removes its bindings by hand."""
        current = self.policy.read()
        holders = {email: member_roles(current, email) for email in emails}
        holders = {email: roles for email, roles in holders.items() if roles}
        if holders:
            self.scope.step(f"removing {', '.join(account_id(e) for e in holders)} from the IAM policy of {self.policy.description}")
            try:
                remove_members(self.policy, list(holders))
            except CloudError as exc:
                return [
                    f"binding of {email} on {self.policy.description} ({', '.join(roles)}): {exc.message} ({manual(email)})"
                    for email, roles in holders.items()
                ]
        self.forget()
        return []

    def forget(self) -> None:
        """Forget the recorded grants on this resource (it, or its policy, is gone)."""
        forget_recorded(self.scope, self.target, self.name)

    def _recorded(self) -> list[str]:
        return recorded(self.scope, self.target, self.name)


def recorded(scope: Scope, target: str, name: str) -> list[str]:
    """State ids of the grants recorded on one resource."""
    return [r.id for r in scope.ctx.state.resources if r.kind == KIND and r.extra.get("target") == target and r.extra.get("resource") == name]


def forget_recorded(scope: Scope, target: str, name: str) -> None:
    for item in recorded(scope, target, name):
        scope.forget(KIND, item)
