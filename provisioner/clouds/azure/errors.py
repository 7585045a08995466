"""Azure's answers in rlcloud's one error vocabulary (provisioner/clouds/errors.py).

`ERRORS` reads an Azure SDK exception once: its kind (NotFound, InUse, ...), Azure's error
code and message, and what the user should do next. Every Azure call runs inside
`ERRORS.calls("what we were doing")` (or through the reconciler, which does the same), so a
quota, capacity or permission problem reaches the user as one message (exit 1), not as an
SDK traceback that buries the one line that matters (which permission, which quota, which SKU):

    create network_security_group rlcloud-x-nsg: Azure said AuthorizationFailed: The client ...
      hint: your Azure identity lacks that permission; ...

Azure's management APIs all answer through azure-core: an `HttpResponseError` carrying the
HTTP status and ARM's `{"error": {"code", "message"}}`, a `ClientAuthenticationError` when no
credential could produce a token, a `ServiceRequestError` when Azure was not reached.
"""

from __future__ import annotations

from provisioner.clouds.errors import (
    RESUME,
    AlreadyExists,
    AuthFailed,
    CapacityUnavailable,
    Classified,
    ErrorMapping,
    InUse,
    Kind,
    NotFound,
    NotYetConsistent,
    QuotaExceeded,
    Throttled,
)

# Codes Azure returns while a just-created principal or role has not reached every replica of
# Azure AD: the same call succeeds a few seconds later.
REPLICATION_CODES = frozenset({"PrincipalNotFound", "RoleDefinitionDoesNotExist", "InvalidPrincipalId"})
# A delete refused while something still refers to the resource (a NIC on a subnet, an NSG on
# a subnet, a role still assigned): waited out, since `down` deletes the referrers first.
IN_USE_CODES = frozenset({"RoleDefinitionHasAssignments", "AnotherOperationInProgress"})
QUOTA_CODES = frozenset({"QuotaExceeded", "SubscriptionQuotaExceeded"})
CAPACITY_CODES = frozenset(
    {"SkuNotAvailable", "AllocationFailed", "ZonalAllocationFailed", "OverconstrainedAllocationRequest", "OverconstrainedZonalAllocationRequest"}
)
AUTH_CODES = frozenset({"AuthorizationFailed", "LinkedAuthorizationFailed", "InvalidAuthenticationToken", "ExpiredAuthenticationToken"})

SIGN_IN = "run `az login` (and `az account set -s SUBSCRIPTION`), or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET"

# Azure error code -> what the user can do about it.
HINTS: dict[str, str] = {
    "AuthorizationFailed": (
        "your Azure identity lacks that permission; rlcloud needs Contributor plus User Access "
        "Administrator (or Owner) on the resource group, or on the subscription when rlcloud "
        "creates the group (it creates a custom role and assigns it to the cluster's identity)"
    ),
    "LinkedAuthorizationFailed": "your Azure identity may not use a resource referenced by the request (see the message)",
    "InvalidAuthenticationToken": "sign in again (`az login`) or check AZURE_CLIENT_ID / AZURE_TENANT_ID / AZURE_CLIENT_SECRET",
    "ExpiredAuthenticationToken": "sign in again (`az login`)",
    "QuotaExceeded": (
        "request more quota for this VM family in the region (Azure portal > Quotas, or "
        "`az vm list-usage --location REGION`), or choose a smaller size or another region"
    ),
    "OperationNotAllowed": "often a quota limit: check `az vm list-usage --location REGION` and request more",
    "SkuNotAvailable": "this VM size is not offered here for your subscription; try another zone, region or size",
    "AllocationFailed": "Azure has no capacity for this size right now; try another zone or region, or drop `placement: proximity` (a placement group pins members to one datacenter)",
    "ZonalAllocationFailed": "no capacity in this zone right now; try another zone, or leave `zone` unset",
    "OverconstrainedAllocationRequest": "the size + zone + placement group combination cannot be met; relax one of them",
    "TooManyRequests": "Azure throttled the requests even after retries; wait a minute and re-run",
    "MissingSubscriptionRegistration": "register the resource provider once: `az provider register --namespace NAMESPACE` (see the message)",
    "ResourceGroupNotFound": "create the resource group, or omit `resource_group` to let rlcloud create rlcloud-<name>",
    "SubscriptionNotFound": "check `subscription_id` in the spec (`az account list -o table`)",
    "InvalidSubscriptionId": "check `subscription_id` in the spec (`az account list -o table`)",
}


def kind_of(status: int | None, code: str) -> Kind | None:
    """The kind of an ARM answer, by its error code first (Azure's codes are specific; the
    same 409 is a quota, a capacity shortage or a taken name) and its HTTP status then. A 404
    is always NotFound: a GET of a role definition that is not there answers 404
    RoleDefinitionDoesNotExist, while an assignment naming one not replicated yet answers 400."""
    if status == 404:
        return NotFound
    if code in REPLICATION_CODES:
        return NotYetConsistent
    if code in IN_USE_CODES or "InUse" in code or code.endswith("CannotBeDeleted"):
        return InUse
    if code in QUOTA_CODES:
        return QuotaExceeded
    if code in CAPACITY_CODES:
        return CapacityUnavailable
    if code in AUTH_CODES or status in (401, 403):
        return AuthFailed
    if status == 429 or code == "TooManyRequests":
        return Throttled
    # Not a taken global name (StorageAccountAlreadyTaken): that is reported with Azure's words.
    if code.endswith("AlreadyExists") or code == "RoleAssignmentExists":
        return AlreadyExists
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _sdk_errors() -> tuple[type[BaseException], ...]:
    from azure.core.exceptions import AzureError

    return (AzureError,)


def _classify(exc: BaseException) -> Classified | None:
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

    if isinstance(exc, ClientAuthenticationError) and getattr(exc, "response", None) is None:
        # No credential could produce a token (CredentialUnavailableError and friends).
        return Classified(AuthFailed, type(exc).__name__, f"no usable Azure credentials: {_first_line(exc)}", SIGN_IN)
    if isinstance(exc, HttpResponseError):
        status = exc.status_code
        error = exc.error
        code = str(getattr(error, "code", None) or ("TooManyRequests" if status == 429 else status or type(exc).__name__))
        message = str(getattr(error, "message", None) or _first_line(exc))
        kind = kind_of(status, code)
        hint = HINTS.get(code) or ("sign in again (`az login`)" if status == 401 else RESUME)
        return Classified(kind, code, message, hint)
    if isinstance(exc, ServiceRequestError):
        return Classified(
            None, type(exc).__name__, f"not reached: {_first_line(exc)}", "check the network (and RLCLOUD_AZURE_ENDPOINT if set), then re-run"
        )
    return Classified(None, type(exc).__name__, _first_line(exc), RESUME)


ERRORS = ErrorMapping(cloud="Azure", sdk_errors=_sdk_errors, classify=_classify)
