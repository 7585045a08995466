"""IAM enforcement in the box's moto server.

moto authenticates (finds the access key, an IAM user's or an STS session's, and checks the
SigV4 signature); the box then authorizes: the caller's identity policies (and, for S3, the
bucket's policy) are evaluated by iam_policy against every (action, resource, conditions)
pair authz derives from the request. Refusals carry each service's own error: EC2's
`UnauthorizedOperation`, S3's and the others' `AccessDenied`. Each request is written to the
trail with its caller and the decision.
"""

from __future__ import annotations

from typing import Any

from tests.cloudbox.aws import authz
from tests.cloudbox.aws.iam_policy import AuthzRequest, Decision, ResourcePolicy, evaluate, evaluate_all
from tests.cloudbox.aws.trail import Trail

_trail: Trail | None = None


def _document(policy: Any) -> str | dict[str, Any]:
    """moto hands policies over as Policy objects (managed), dicts or JSON strings (inline)."""
    from moto.iam.models import Policy

    if isinstance(policy, Policy):
        return next(v.document for v in policy.versions if v.is_default)
    if isinstance(policy, str):
        return policy
    return policy["policy_document"]  # type: ignore[no-any-return]


def _caller(iam_request: Any) -> authz.Caller:
    key = iam_request._access_key
    arn = key.arn
    role_arn = None
    if ":assumed-role/" in arn:
        account = arn.split(":")[4]
        role_arn = f"arn:aws:iam::{account}:role/{arn.split('/')[1]}"
    return authz.Caller(arn=arn, account=iam_request.account_id, role_arn=role_arn)


def _unauthorized_operation(caller: authz.Caller, refused: AuthzRequest) -> Exception:
    from moto.core.exceptions import _RESTError

    class UnauthorizedOperation(_RESTError):
        code = 403

    return UnauthorizedOperation(
        "UnauthorizedOperation",
        f"You are not authorized to perform this operation. User: {caller.arn} is not authorized to perform: "
        f"{refused.action} on resource: {refused.resource}",
    )


def _bucket_policy(account: str, bucket: str) -> str | None:
    from moto.s3.models import s3_backends

    found = s3_backends[account]["aws"].buckets.get(bucket)
    policy = getattr(found, "policy", None)
    return policy.decode() if isinstance(policy, bytes) else policy


def _requests(response: Any, iam_request: Any, caller: authz.Caller, resource: str) -> tuple[list[AuthzRequest], ResourcePolicy | None]:
    service = iam_request._service
    action = iam_request._action.split(":", 1)[1]
    region = iam_request._region
    if service == "ec2":
        from moto.ec2.models import ec2_backends

        view = authz.Ec2View(ec2_backends[caller.account][region])
        params = response.params if getattr(response, "automated_parameter_parsing", False) else {}
        return authz.ec2_requests(action, params, region, caller, view), None
    if service == "s3":
        bucket = resource.split(":::", 1)[-1].split("/", 1)[0]
        policy = _bucket_policy(caller.account, bucket) if bucket and bucket != "*" else None
        requests = authz.s3_requests(action, resource, response.querystring, caller, region)
        return requests, ResourcePolicy(policy, caller.arns, caller.account) if policy else None
    return [AuthzRequest(iam_request._action, resource, authz.base_context(caller, region))], None


def _authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
    """Replaces moto's ActionAuthenticatorMixin._authenticate_and_authorize_action."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        ActionAuthenticatorMixin.request_count += 1
        return
    record = _trail.current() if _trail else None
    if "Authorization" not in self.headers:
        if record is not None:
            record.action, record.decision = "unsigned", "unauthenticated"
        from moto.core.exceptions import AccessDeniedError

        raise AccessDeniedError(user_arn="anonymous", action="(unsigned request)")
    path = self.raw_path + (f"?{self.uri.split('?', 1)[1]}" if "?" in self.uri else "")
    iam_request = iam_request_cls(
        account_id=self.current_account,
        method=self.method,
        path=path,
        data=self.data,
        body=self.raw_body,
        headers=self.headers,
        action=self._get_action(),
    )
    iam_request.check_signature()
    caller = _caller(iam_request)
    if record is not None:
        record.service, record.action, record.principal = iam_request._service, iam_request._action, caller.arn
    if iam_request._action == "sts:GetCallerIdentity":  # always allowed, as on AWS
        if record is not None:
            record.decision = Decision.ALLOW.value
        return
    requests, resource_policy = _requests(self, iam_request, caller, resource)
    policies = [_document(p) for p in iam_request._access_key.collect_policies()]
    decision, refused = evaluate_all(policies, requests, resource_policy)
    if record is not None:
        record.decision = decision.value
        record.resources = sorted({r.resource for r in requests})
        record.denied = refused.resource if refused else ""
    if decision is Decision.ALLOW:
        return
    assert refused is not None
    if iam_request._service == "ec2":
        raise _unauthorized_operation(caller, refused)
    iam_request._raise_access_denied()


def _bucket_permission(self: Any, action: str, resource: str) -> Any:
    """FakeBucket.get_permission: the check moto makes on object calls before it knows the
    caller. Only an explicit Deny for everyone counts here, evaluated with the request's real
    conditions (every request to the box is TLS, so a TLS-only policy denies nothing); the
    caller's full evaluation, bucket policy included, follows in _authorize."""
    from moto.iam.access_control import PermissionResult

    if not self.policy:
        return PermissionResult.NEUTRAL
    document = self.policy.decode() if isinstance(self.policy, bytes) else self.policy
    everyone = ResourcePolicy(document, caller_arns=("*",), account="")
    request = AuthzRequest(action, resource, {"aws:SecureTransport": "true"})
    if evaluate([], request, everyone) is Decision.EXPLICIT_DENY:
        return PermissionResult.DENIED
    return PermissionResult.NEUTRAL


def install(trail: Trail) -> None:
    """Route moto's authorization through the box (call once, before serving)."""
    global _trail
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.s3.models import FakeBucket

    _trail = trail
    ActionAuthenticatorMixin._authenticate_and_authorize_action = _authorize  # type: ignore[method-assign]
    FakeBucket.get_permission = _bucket_permission
