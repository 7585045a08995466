"""Google's answers in rlcloud's one error vocabulary (provisioner/clouds/errors.py).

`ERRORS` reads a Google exception once: its kind (NotFound, InUse, ...), Google's status and
reason, its message, and what the user should do next. Every Google call runs inside
`ERRORS.calls("what we were doing")` (or through the reconciler, which does the same), so a
quota, capacity or permission problem reaches the user as one message (exit 1):

    creating firewall rule rlcloud-x-ssh: GCP said 403 quotaExceeded: Quota 'FIREWALLS' exceeded. ...
      hint: a quota or rate limit was hit: ...

Three error families reach us: google-api-core exceptions (google-cloud-compute, -storage,
and failed Compute operations), googleapiclient's HttpError (IAM, Resource Manager), and
google-auth's credential errors. All are read into one `GoogleError` first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

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

T = TypeVar("T")

# A 403 rateLimitExceeded is a per-minute project quota: it is reported (re-running finishes
# the job), not waited out, like any other quota. Only HTTP 429 is throttling.
QUOTA_REASONS = {"quotaExceeded", "QUOTA_EXCEEDED", "rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED", "RESOURCE_EXHAUSTED"}
CAPACITY_REASONS = {"ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", "resourcePoolExhausted"}
API_DISABLED_REASONS = {"accessNotConfigured", "SERVICE_DISABLED"}
# What the operator running `rlcloud up` / `down` needs on the project.
OPERATOR_ROLES = (
    "roles/compute.securityAdmin (firewall rules), roles/compute.instanceAdmin.v1 (placement policy, VMs), "
    "roles/iam.serviceAccountAdmin and roles/iam.serviceAccountUser (node service account), "
    "roles/resourcemanager.projectIamAdmin (its project binding), roles/storage.admin (checkpoint bucket)"
)
_PROJECT_IN_URL = re.compile(r"/projects/([a-z][-a-z0-9]{4,28}[a-z0-9])(?:[/:?]|$)")


@dataclass(frozen=True)
class GoogleError:
    status: int | None
    reasons: tuple[str, ...]  # REST errors[].reason, operation errors[].code, error.status, ErrorInfo reason; first = main
    message: str
    project: str | None = None  # the project the failed request named, when its URL is known

    @property
    def code(self) -> str:
        """Google's code as the user sees it: HTTP status and main reason, e.g. 403 quotaExceeded."""
        return " ".join(part for part in (str(self.status) if self.status else "", self.reasons[0] if self.reasons else "") if part) or "error"


def _strip_request_line(message: str) -> str:
    # google-api-core prefixes "GET https://...: "; the URL is noise for the person reading.
    return re.sub(r"^(GET|POST|PUT|PATCH|DELETE) \S+: ", "", message.strip())


def _add(reasons: list[str], *found: object) -> None:
    reasons.extend(v for v in found if isinstance(v, str) and v and v not in reasons)


def _project_of(url: object) -> str | None:
    match = _PROJECT_IN_URL.search(url) if isinstance(url, str) else None
    return match.group(1) if match else None


def read_error(exc: BaseException) -> GoogleError | None:
    """The status, reasons and message of a Google error; None for anything else."""
    from google.api_core import exceptions as core
    from google.auth import exceptions as auth
    from googleapiclient.errors import HttpError

    if isinstance(exc, core.GoogleAPICallError):
        reasons: list[str] = []
        details: list[str] = []
        for item in exc.errors or ():
            # REST errors[] are dicts; a Compute operation's are message objects.
            fields = item if isinstance(item, dict) else {key: getattr(item, key, None) for key in ("reason", "code", "message")}
            _add(reasons, fields.get("reason"), fields.get("code"))
            if isinstance(fields.get("message"), str) and fields["message"]:
                details.append(fields["message"])
        _add(reasons, exc.reason)
        status = exc.code if isinstance(exc.code, int) else None
        message = _strip_request_line(exc.message or str(exc))
        # A failed Compute operation says only "SERVICE UNAVAILABLE"; the detail is in errors[].
        if details and details[0] not in message:
            message = details[0] if message.isupper() else f"{message}: {details[0]}"
        request = getattr(getattr(exc, "response", None), "request", None)
        return GoogleError(status=status, reasons=tuple(reasons), message=message, project=_project_of(getattr(request, "url", None)))
    if isinstance(exc, HttpError):
        reasons = []
        try:
            body = json.loads(exc.content.decode("utf-8"))["error"]
            _add(reasons, body.get("status"), *(e.get("reason") for e in body.get("errors", [])))
            _add(reasons, *(d.get("reason") for d in body.get("details", [])))
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
        return GoogleError(status=exc.resp.status, reasons=tuple(reasons), message=exc.reason or str(exc), project=_project_of(exc.uri))
    if isinstance(exc, (auth.RefreshError, auth.DefaultCredentialsError)):
        return GoogleError(status=401, reasons=("UNAUTHENTICATED",), message=str(exc))
    return None


def kind_of(err: GoogleError) -> Kind | None:
    reasons = set(err.reasons)
    if err.status == 404:
        return NotFound
    if err.status == 412 or (err.status == 409 and "ABORTED" in reasons):
        # An IAM policy changed between our read and write (etag mismatch): read again.
        return NotYetConsistent
    if err.status == 409 and "not empty" in err.message:
        return InUse  # a bucket still holding objects (one written while `down` purged it)
    if err.status == 409:
        return AlreadyExists
    if err.status == 400 and "resourceInUseByAnotherResource" in reasons:
        return InUse  # e.g. a placement policy or firewall of VMs still shutting down
    if err.status == 400 and "Service account" in err.message and "does not exist" in err.message:
        # IAM is eventually consistent: a just-created account is refused as a policy member
        # for a few seconds.
        return NotYetConsistent
    if err.status == 429:
        return Throttled
    if reasons & QUOTA_REASONS:
        return QuotaExceeded
    if reasons & CAPACITY_REASONS:
        return CapacityUnavailable
    if reasons & API_DISABLED_REASONS:
        return None
    if err.status in (401, 403):
        return AuthFailed
    return None


def hint_for(err: GoogleError) -> str:
    """What to do next about a Google error."""
    where = f"?project={err.project}" if err.project else ""
    kind = kind_of(err)
    if kind in (QuotaExceeded, Throttled):
        return (
            f"a quota or rate limit was hit: wait a minute and re-run the command (it finishes what is missing), "
            f"or ask for more quota at https://console.cloud.google.com/iam-admin/quotas{where}"
        )
    if kind is CapacityUnavailable:
        return "the zone has no capacity for this machine type right now: re-run later, or pick another zone in the spec"
    if set(err.reasons) & API_DISABLED_REASONS:
        return f"enable the API for the project: https://console.cloud.google.com/apis/library{where}"
    if err.status == 401:
        return "the credentials were refused: run `gcloud auth application-default login` (or fix GOOGLE_APPLICATION_CREDENTIALS)"
    if err.status == 403:
        return f"the account running rlcloud lacks a permission; it needs {OPERATOR_ROLES}"
    if err.status == 404:
        return "check the project, region, zone and network names in the spec"
    return RESUME


def _sdk_errors() -> tuple[type[BaseException], ...]:
    from google.api_core.exceptions import GoogleAPICallError
    from google.auth.exceptions import DefaultCredentialsError, RefreshError
    from googleapiclient.errors import HttpError

    return (GoogleAPICallError, HttpError, RefreshError, DefaultCredentialsError)


def _classify(exc: BaseException) -> Classified | None:
    err = read_error(exc)
    if err is None:
        return None
    return Classified(kind_of(err), err.code, err.message, hint_for(err))


ERRORS = ErrorMapping(cloud="GCP", sdk_errors=_sdk_errors, classify=_classify)


def _unless(kind: Kind, call: Callable[[], T]) -> T | None:
    try:
        return call()
    except Exception as exc:
        if ERRORS.is_kind(exc, kind):
            return None
        raise


def unless_missing(call: Callable[[], T]) -> T | None:
    """`call()`, or None when Google answers that it does not exist (a read of what may be
    absent, a delete of what may be gone already)."""
    return _unless(NotFound, call)


def unless_exists(call: Callable[[], T]) -> T | None:
    """`call()`, or None when Google answers that it exists already (a create whose earlier
    answer was lost): the caller then reads it and checks that it is ours."""
    return _unless(AlreadyExists, call)


def wait(operation: Any, timeout_s: float = 600.0) -> None:
    """Wait for a Compute Engine operation; a failed operation raises like a failed call."""
    operation.result(timeout=timeout_s)
