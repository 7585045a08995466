"""IAM policy evaluation as AWS documents it, for the cloud box's API server.

moto 5.2 checks an action against a policy's `Action` only: every EC2 request is checked
against resource "*" and conditions other than `StringEquals` on a few keys are ignored. So
a policy scoped to ARNs and tags (rlcloud's head role) would be refused everything, and a
Deny with `Bool aws:SecureTransport` (rlcloud's bucket policy) would deny everything. The
box evaluates each request here instead, against the ARNs and condition keys the request
really involves (tests/cloudbox/aws/authz.py works those out).

Semantics (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
- an explicit Deny in any policy wins; otherwise any Allow allows; otherwise implicit deny;
- a statement applies when its Action (or NotAction), Resource (or NotResource) and every
  Condition match; actions match case-insensitively, resources case-sensitively, both with
  `*` and `?` wildcards;
- within a condition operator, keys are ANDed and the values of one key are ORed; a missing
  key fails the condition, except for negated operators, `...IfExists`, `Null` and
  `ForAllValues:`;
- `ForAnyValue:` / `ForAllValues:` compare multi-valued keys (aws:TagKeys).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any

ContextValue = str | Sequence[str]


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit-deny"
    IMPLICIT_DENY = "implicit-deny"


@dataclass(frozen=True)
class AuthzRequest:
    """One (action, resource) pair a request needs, with the condition keys that describe it.

    Context keys are matched case-insensitively, as AWS does; `context` may use any case."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)

    def value(self, key: str) -> list[str] | None:
        wanted = key.lower()
        for name, value in self.context.items():
            if name.lower() == wanted:
                return [value] if isinstance(value, str) else list(value)
        return None


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _wildcard(pattern, ignore_case).match(value) is not None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ----------------------------------------------------------------------------- conditions


def _string_equals(expected: str, actual: str) -> bool:
    return expected == actual


def _string_equals_ignore_case(expected: str, actual: str) -> bool:
    return expected.lower() == actual.lower()


def _string_like(expected: str, actual: str) -> bool:
    return wildcard_match(expected, actual)


def _bool(expected: str, actual: str) -> bool:
    return str(expected).lower() == str(actual).lower()


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def check(expected: str, actual: str) -> bool:
        try:
            return compare(float(actual), float(expected))
        except ValueError:
            return False

    return check


def _ip_address(expected: str, actual: str) -> bool:
    try:
        return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)
    except ValueError:
        return False


# operator -> (compare one expected value with one actual value, negated?)
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "stringequals": (_string_equals, False),
    "stringnotequals": (_string_equals, True),
    "stringequalsignorecase": (_string_equals_ignore_case, False),
    "stringnotequalsignorecase": (_string_equals_ignore_case, True),
    "stringlike": (_string_like, False),
    "stringnotlike": (_string_like, True),
    "arnequals": (_string_like, False),
    "arnlike": (_string_like, False),
    "arnnotequals": (_string_like, True),
    "arnnotlike": (_string_like, True),
    "bool": (_bool, False),
    "numericequals": (_numeric(lambda a, e: a == e), False),
    "numericnotequals": (_numeric(lambda a, e: a == e), True),
    "numericlessthan": (_numeric(lambda a, e: a < e), False),
    "numericlessthanequals": (_numeric(lambda a, e: a <= e), False),
    "numericgreaterthan": (_numeric(lambda a, e: a > e), False),
    "numericgreaterthanequals": (_numeric(lambda a, e: a >= e), False),
    "ipaddress": (_ip_address, False),
    "notipaddress": (_ip_address, True),
}


class UnsupportedCondition(ValueError):
    """A policy uses an operator the box does not implement: refuse loudly, never guess."""


def _condition_holds(operator: str, key: str, expected: Any, request: AuthzRequest) -> bool:
    name = operator.lower()
    qualifier = ""
    if name.startswith("forallvalues:") or name.startswith("foranyvalue:"):
        qualifier, name = name.split(":", 1)
    if_exists = name.endswith("ifexists")
    if if_exists:
        name = name[: -len("ifexists")]
    actual = request.value(key)
    expected_values = [str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(expected)]
    if name == "null":
        wants_absent = expected_values[0].lower() == "true"
        return (actual is None) == wants_absent
    if name not in _OPERATORS:
        raise UnsupportedCondition(f"condition operator {operator!r} is not implemented by the cloud box")
    compare, negated = _OPERATORS[name]

    def matches(value: str) -> bool:
        return any(compare(e, value) for e in expected_values)

    if qualifier == "forallvalues":
        # Every value in the request must satisfy it (vacuously true when there are none).
        return all((not matches(v)) if negated else matches(v) for v in (actual or []))
    if qualifier == "foranyvalue":
        if not actual:
            return False
        return any((not matches(v)) if negated else matches(v) for v in actual)
    if actual is None:
        return if_exists or negated
    if negated:
        return not any(matches(v) for v in actual)
    return any(matches(v) for v in actual)


def _conditions_hold(conditions: Mapping[str, Mapping[str, Any]], request: AuthzRequest) -> bool:
    return all(_condition_holds(operator, key, expected, request) for operator, block in conditions.items() for key, expected in block.items())


# ----------------------------------------------------------------------------- statements


def _element_matches(patterns: Any, value: str, *, ignore_case: bool) -> bool:
    return any(wildcard_match(str(p), value, ignore_case=ignore_case) for p in _as_list(patterns))


def principal_matches(principal: Any, caller_arns: Iterable[str], account: str) -> bool:
    """Resource policies name who they apply to: "*", an account, a user/role ARN. An assumed
    role's session is matched by its role ARN too."""
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        candidates = [p for values in principal.values() for p in _as_list(values)]
    else:
        candidates = _as_list(principal)
    arns = list(caller_arns)
    for candidate in map(str, candidates):
        if candidate == "*" or candidate in (account, f"arn:aws:iam::{account}:root"):
            return True
        if any(wildcard_match(candidate, arn) for arn in arns):
            return True
    return False


def _statement_applies(statement: Mapping[str, Any], request: AuthzRequest) -> bool:
    if "NotAction" in statement:
        if _element_matches(statement["NotAction"], request.action, ignore_case=True):
            return False
    elif not _element_matches(statement.get("Action", []), request.action, ignore_case=True):
        return False
    if "NotResource" in statement:
        if _element_matches(statement["NotResource"], request.resource, ignore_case=False):
            return False
    elif "Resource" in statement and not _element_matches(statement["Resource"], request.resource, ignore_case=False):
        return False
    return _conditions_hold(statement.get("Condition", {}), request)


def statements(policy: Mapping[str, Any] | str) -> list[Mapping[str, Any]]:
    document = json.loads(policy) if isinstance(policy, str) else policy
    return [s for s in _as_list(document.get("Statement", [])) if isinstance(s, Mapping)]


@dataclass(frozen=True)
class ResourcePolicy:
    """A resource-based policy (a bucket policy) and who the caller is, for Principal checks."""

    document: Mapping[str, Any] | str
    caller_arns: tuple[str, ...]
    account: str


def evaluate(identity_policies: Iterable[Mapping[str, Any] | str], request: AuthzRequest, resource_policy: ResourcePolicy | None = None) -> Decision:
    """The decision for one request, from the caller's identity policies and, for S3, the
    bucket's policy (same account: an Allow in either is enough; a Deny in either wins)."""
    allowed = False
    applicable = [s for policy in identity_policies for s in statements(policy)]
    if resource_policy is not None:
        applicable += [
            s
            for s in statements(resource_policy.document)
            if principal_matches(s.get("Principal", s.get("NotPrincipal")), resource_policy.caller_arns, resource_policy.account)
        ]
    for statement in applicable:
        if not _statement_applies(statement, request):
            continue
        if statement.get("Effect") == "Deny":
            return Decision.EXPLICIT_DENY
        if statement.get("Effect") == "Allow":
            allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def evaluate_all(
    identity_policies: Sequence[Mapping[str, Any] | str], requests: Iterable[AuthzRequest], resource_policy: ResourcePolicy | None = None
) -> tuple[Decision, AuthzRequest | None]:
    """Every request must be allowed; returns the first refused one."""
    for request in requests:
        decision = evaluate(identity_policies, request, resource_policy)
        if decision is not Decision.ALLOW:
            return decision, request
    return Decision.ALLOW, None
