"""Azure SDK exceptions -> CloudError: Azure's own code and message, then what to do next.

The CLI prints a CloudError on one screen and exits 1; a traceback from the SDK would bury
the one line that matters (which permission, which quota, which SKU).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from provisioner.errors import CloudError

RETRY_LATER = "re-run the same command to finish (it picks up where this one stopped), or `rlcloud down SPEC` to remove what was created"

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


def error_code(exc: BaseException) -> str | None:
    """Azure's error code (AuthorizationFailed, QuotaExceeded, ...) of an SDK exception."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    if code:
        return str(code)
    response = getattr(exc, "response", None)
    if response is not None and getattr(response, "status_code", None) == 429:
        return "TooManyRequests"
    return None


def is_not_found(exc: BaseException) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    return isinstance(exc, ResourceNotFoundError) or getattr(exc, "status_code", None) == 404


def to_cloud_error(exc: BaseException, action: str) -> CloudError:
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

    if isinstance(exc, ClientAuthenticationError) and getattr(exc, "response", None) is None:
        # No credential could produce a token (CredentialUnavailableError and friends).
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return CloudError(
            f"no usable Azure credentials to {action}: {first_line}",
            hint="run `az login` (and `az account set -s SUBSCRIPTION`), or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET",
        )
    if isinstance(exc, HttpResponseError):
        code = error_code(exc)
        message = getattr(getattr(exc, "error", None), "message", None) or str(exc).strip().splitlines()[0]
        status = getattr(exc, "status_code", None)
        hint = HINTS.get(code or "") or ("sign in again (`az login`)" if status == 401 else RETRY_LATER)
        return CloudError(f"Azure refused to {action}: {code or status}: {message}", hint=hint)
    if isinstance(exc, ServiceRequestError):
        return CloudError(f"could not reach Azure to {action}: {exc}", hint="check the network (and RLCLOUD_AZURE_ENDPOINT if set), then re-run")
    return CloudError(f"Azure failed to {action}: {exc}", hint=RETRY_LATER)


@contextmanager
def azure_errors(action: str) -> Iterator[None]:
    """Turn any Azure SDK error raised inside into a CloudError about `action`."""
    from azure.core.exceptions import AzureError

    try:
        yield
    except AzureError as exc:
        raise to_cloud_error(exc, action) from None
