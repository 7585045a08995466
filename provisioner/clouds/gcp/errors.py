"""Google API errors -> CloudError (exit 1, Google's message, what to do next), and the few
questions rlcloud asks of an error (not found? already exists? still in use?).

Two error families reach us: google-api-core exceptions (google-cloud-compute, -storage, and
failed Compute operations) and googleapiclient's HttpError (IAM, Resource Manager). Both are
read into one `GoogleError` so every predicate and hint works for either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from provisioner.errors import CloudError, RlcloudError

QUOTA_REASONS = {"quotaExceeded", "QUOTA_EXCEEDED", "rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED", "RESOURCE_EXHAUSTED"}
CAPACITY_REASONS = {"ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", "resourcePoolExhausted"}
API_DISABLED_REASONS = {"accessNotConfigured", "SERVICE_DISABLED"}
# What the operator running `rlcloud up` / `down` needs on the project.
OPERATOR_ROLES = (
    "roles/compute.securityAdmin (firewall rules), roles/compute.instanceAdmin.v1 (placement policy, VMs), "
    "roles/iam.serviceAccountAdmin and roles/iam.serviceAccountUser (node service account), "
    "roles/resourcemanager.projectIamAdmin (its project binding), roles/storage.admin (checkpoint bucket)"
)


@dataclass(frozen=True)
class GoogleError:
    status: int | None
    reasons: frozenset[str]  # REST errors[].reason, operation errors[].code, error.status, ErrorInfo reason
    message: str


def _strip_request_line(message: str) -> str:
    # google-api-core prefixes "GET https://...: "; the URL is noise for the person reading.
    return re.sub(r"^(GET|POST|PUT|PATCH|DELETE) \S+: ", "", message.strip())


def read_error(exc: BaseException) -> GoogleError | None:
    """The status, reasons and message of a Google error; None for anything else."""
    from google.api_core import exceptions as core
    from google.auth import exceptions as auth
    from googleapiclient.errors import HttpError

    if isinstance(exc, core.GoogleAPICallError):
        reasons: set[str] = set()
        details: list[str] = []
        for item in exc.errors or ():
            field = (lambda key, item=item: item.get(key)) if isinstance(item, dict) else (lambda key, item=item: getattr(item, key, None))
            reasons.update(v for v in (field("reason"), field("code")) if isinstance(v, str) and v)
            if isinstance(field("message"), str) and field("message"):
                details.append(field("message"))
        if exc.reason:
            reasons.add(exc.reason)
        status = exc.code if isinstance(exc.code, int) else None
        message = _strip_request_line(exc.message or str(exc))
        # A failed Compute operation says only "SERVICE UNAVAILABLE"; the detail is in errors[].
        if details and details[0] not in message:
            message = details[0] if message.isupper() else f"{message}: {details[0]}"
        return GoogleError(status=status, reasons=frozenset(reasons), message=message)
    if isinstance(exc, HttpError):
        reasons = set()
        try:
            body = json.loads(exc.content.decode("utf-8"))["error"]
            if body.get("status"):
                reasons.add(body["status"])
            reasons.update(e.get("reason", "") for e in body.get("errors", []) if e.get("reason"))
            for detail in body.get("details", []):
                if detail.get("reason"):
                    reasons.add(detail["reason"])
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
        return GoogleError(status=exc.resp.status, reasons=frozenset(reasons), message=exc.reason or str(exc))
    if isinstance(exc, (auth.RefreshError, auth.DefaultCredentialsError)):
        return GoogleError(status=401, reasons=frozenset({"UNAUTHENTICATED"}), message=str(exc))
    return None


def is_not_found(exc: BaseException) -> bool:
    err = read_error(exc)
    return err is not None and err.status == 404


def is_already_exists(exc: BaseException) -> bool:
    err = read_error(exc)
    return err is not None and err.status == 409 and not is_concurrent_change(exc)


def is_concurrent_change(exc: BaseException) -> bool:
    """An IAM policy changed between our read and write (etag mismatch): read again."""
    err = read_error(exc)
    return err is not None and (err.status == 412 or (err.status == 409 and "ABORTED" in err.reasons))


def is_in_use(exc: BaseException) -> bool:
    """A resource other resources still reference (e.g. a placement policy of a VM)."""
    err = read_error(exc)
    return err is not None and err.status == 400 and "resourceInUseByAnotherResource" in err.reasons


def is_new_member_not_visible(exc: BaseException) -> bool:
    """IAM is eventually consistent: a just-created service account can be refused as a
    policy member for a few seconds."""
    err = read_error(exc)
    return err is not None and err.status == 400 and "does not exist" in err.message


def hint_for(err: GoogleError, project: str | None) -> str:
    where = f"?project={project}" if project else ""
    if err.reasons & QUOTA_REASONS or err.status == 429:
        return (
            f"a quota or rate limit was hit: wait a minute and re-run the command (it finishes what is missing), "
            f"or ask for more quota at https://console.cloud.google.com/iam-admin/quotas{where}"
        )
    if err.reasons & CAPACITY_REASONS:
        return "the zone has no capacity for this machine type right now: re-run later, or pick another zone in the spec"
    if err.reasons & API_DISABLED_REASONS:
        return f"enable the API for the project: https://console.cloud.google.com/apis/library{where}"
    if err.status == 401:
        return "the credentials were refused: run `gcloud auth application-default login` (or fix GOOGLE_APPLICATION_CREDENTIALS)"
    if err.status == 403:
        return f"the account running rlcloud lacks a permission; it needs {OPERATOR_ROLES}"
    if err.status == 404:
        return "check the project, region, zone and network names in the spec"
    return "re-run the command: `up` finishes what is missing, `down` removes what was created"


def to_cloud_error(exc: BaseException, action: str, project: str | None = None) -> CloudError | None:
    err = read_error(exc)
    if err is None:
        return None
    detail = f"HTTP {err.status}" if err.status else "error"
    if err.reasons:
        detail += ", " + ", ".join(sorted(err.reasons))
    return CloudError(f"GCP: {action} failed: {err.message} ({detail})", hint=hint_for(err, project))


@contextmanager
def gcp_call(action: str, project: str | None = None) -> Iterator[None]:
    """Run Google calls; their errors leave as CloudError with `action` in the message."""
    try:
        yield
    except RlcloudError:
        raise
    except Exception as exc:
        converted = to_cloud_error(exc, action, project)
        if converted is None:
            raise
        raise converted from None


T = TypeVar("T")


def read_or_none(action: str, project: str, call: Callable[[], T]) -> T | None:
    """`call()`, or None when Google answers 404."""
    with gcp_call(action, project):
        try:
            return call()
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise


def create_or_adopt(action: str, project: str, call: Callable[[], object]) -> bool:
    """`call()`; False when the resource already exists (409), e.g. made by an earlier run
    whose answer was lost: the caller then reads it and checks that it is ours."""
    with gcp_call(action, project):
        try:
            call()
            return True
        except Exception as exc:
            if is_already_exists(exc):
                return False
            raise


def delete_if_present(action: str, project: str, call: Callable[[], object]) -> bool:
    """`call()`; False when it was already gone (404)."""
    return read_or_none(action, project, lambda: call() or True) is not None


def describe_failure(exc: BaseException) -> str:
    """One line for a `down` report: Google's message, or the exception's text."""
    if isinstance(exc, RlcloudError):
        return exc.message
    err = read_error(exc)
    return err.message if err else f"{type(exc).__name__}: {exc}"


def wait(operation: Any, timeout_s: float = 600.0) -> None:
    """Wait for a Compute Engine operation; a failed operation raises like a failed call."""
    operation.result(timeout=timeout_s)
