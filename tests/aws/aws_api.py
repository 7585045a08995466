"""Watching and breaking rlcloud's AWS calls at the API boundary, through botocore's events
on the real clients (attached with provisioner.clouds.aws.session.on_new_client):

- CallLog records every API operation (one entry per logical call; retries not counted).
- FailAt makes the N-th mutating call fail the way AWS fails it: an error response that
  botocore turns into its modeled exception (capacity, quota, auth, ...).
- Throttle answers the first attempt of every mutating call with AWS's throttling error on
  the wire (a real HTTP 400/503 with the service's error body), so botocore's retry handler
  sees exactly what it would see from AWS.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse

READ_PREFIXES = ("Describe", "Get", "List", "Head")


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


@dataclass
class CallLog:
    calls: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.service_id.hyphenize()

        def record(model: Any, **_: Any) -> None:
            with self._lock:
                self.calls.append((service, model.name))

        client.meta.events.register("before-parameter-build", record)

    def mutating(self) -> list[str]:
        return [f"{service}:{op}" for service, op in self.calls if is_mutating(op)]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()


# One error per kind of failure the issue names, in each service's own words.
FAILURES: dict[str, dict[str, tuple[str, str]]] = {
    "capacity": {
        "ec2": ("InsufficientInstanceCapacity", "We currently do not have sufficient capacity in the Availability Zone you requested."),
        "iam": ("ServiceFailure", "Request processing has failed because of an unknown error, exception or failure."),
        "s3": ("ServiceUnavailable", "Please reduce your request rate."),
    },
    "quota": {
        "ec2": ("SecurityGroupLimitExceeded", "The maximum number of security groups has been reached."),
        "iam": ("LimitExceeded", "Cannot exceed quota for RolesPerAccount: 1000"),
        "s3": ("TooManyBuckets", "You have attempted to create more buckets than allowed"),
    },
    "auth": {
        "ec2": ("UnauthorizedOperation", "You are not authorized to perform this operation. Encoded authorization failure message: abc"),
        "iam": ("AccessDenied", "User: arn:aws:iam::123456789012:user/ci is not authorized to perform this action"),
        "s3": ("AccessDenied", "Access Denied"),
    },
}


@dataclass
class FailAt:
    """Fail the `index`-th mutating call (0-based) once with the `kind` error of its service."""

    index: int
    kind: str
    seen: int = 0
    failed: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.service_id.hyphenize()

        def maybe_fail(model: Any, **_: Any) -> None:
            if not is_mutating(model.name):
                return
            with self._lock:
                position, self.seen = self.seen, self.seen + 1
                if position != self.index:
                    return
                self.failed = f"{service}:{model.name}"
            code, message = FAILURES[self.kind].get(service, FAILURES[self.kind]["ec2"])
            status = 503 if code == "ServiceUnavailable" else 400
            response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "injected"}}
            # The modeled exception botocore raises for this code, as for a real answer. Raised
            # before any before-call handler (a moto-gap stand-in) could answer instead.
            raise client.exceptions.from_code(code)(response, model.name)

        client.meta.events.register("before-parameter-build", maybe_fail)


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def stream(self, **_: Any) -> Any:
        yield self._data.read()


def _throttle_body(protocol: str) -> tuple[int, bytes]:
    if protocol == "ec2":
        return (
            503,
            b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>t</RequestID></Response>",
        )
    if protocol == "query":  # IAM, STS
        return (
            400,
            b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>t</RequestId></ErrorResponse>",
        )
    if protocol == "rest-xml":  # S3
        return 503, b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>t</RequestId></Error>"
    return 400, b'{"__type":"ThrottlingException","message":"Rate exceeded"}'


@dataclass
class Throttle:
    """Throttle the first attempt of every mutating call; count how many were throttled."""

    throttled: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, client: Any) -> None:
        protocol = client.meta.service_model.protocol
        service = client.meta.service_model.service_id.hyphenize()

        def maybe_throttle(request: Any, **_: Any) -> Any:
            # The request context is the same dict on every attempt of one call.
            operation = request.context.get("rlcloud_operation", "")
            if not is_mutating(operation) or request.context.get("rlcloud_throttled"):
                return None
            request.context["rlcloud_throttled"] = True
            with self._lock:
                self.throttled.append(f"{service}:{operation}")
            status, body = _throttle_body(protocol)
            return AWSResponse(request.url, status, {}, _Body(body))

        def remember_operation(model: Any, context: dict[str, Any], **_: Any) -> None:
            context["rlcloud_operation"] = model.name

        client.meta.events.register("before-parameter-build", remember_operation)
        client.meta.events.register_first("before-send", maybe_throttle)
