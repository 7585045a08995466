"""What a cloud said, in one vocabulary whatever SDK said it.

Each cloud maps its SDK's exceptions to these classes in one place (its `errors.py`, an
`ErrorMapping`), so the shared code decides by type: the reconciler retries `InUse` and
`NotYetConsistent`, treats `NotFound` on delete as done, and the CLI prints any of them as
one message (exit 1). Every message follows one template and keeps the cloud's own words:

    <what rlcloud was doing>: <Cloud> said <its error code>: <its message>
      hint: <what to do next>
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from provisioner.errors import CloudError

RESUME = "then re-run `rlcloud up` (it continues where it stopped), or `rlcloud down` to remove what was created"


class TypedCloudError(CloudError):
    """A cloud API error with its kind known. `code` and `cloud_message` are the cloud's own."""

    def __init__(self, doing: str, *, cloud: str, code: str, cloud_message: str, hint: str | None = None) -> None:
        super().__init__(f"{doing}: {cloud} said {code}: {cloud_message}", hint=hint)
        self.doing = doing
        self.cloud = cloud
        self.code = code
        self.cloud_message = cloud_message


class NotFound(TypedCloudError):
    """The resource (or something the call names) does not exist."""


class AlreadyExists(TypedCloudError):
    """A resource of that name exists already (a create raced another, or a name is taken)."""


class InUse(TypedCloudError):
    """Still in use by something else (a firewall by instances that are still terminating)."""


class NotYetConsistent(TypedCloudError):
    """The cloud has not caught up with an earlier write (a new role not visible yet)."""


class QuotaExceeded(TypedCloudError):
    """An account or project limit was reached."""


class CapacityUnavailable(TypedCloudError):
    """The cloud has no capacity of that kind in that place right now."""


class AuthFailed(TypedCloudError):
    """Credentials are missing, expired or lack a permission."""


class Throttled(TypedCloudError):
    """Too many requests; slow down and try again."""


# Kinds worth waiting out: the same call succeeds once the cloud catches up.
TRANSIENT: tuple[type[TypedCloudError], ...] = (InUse, NotYetConsistent, Throttled)

Kind = type[TypedCloudError]


@dataclass(frozen=True)
class Classified:
    """One SDK exception, read: its kind, the cloud's code and message, and the hint to show."""

    kind: Kind | None  # None: a cloud error of no particular kind (a plain CloudError)
    code: str
    message: str
    hint: str | None = None


@dataclass(frozen=True)
class ErrorMapping:
    """A cloud's one mapping from its SDK's exceptions to the kinds above.

    `sdk_errors` is called only when an exception is raised, so the SDK is imported then and
    never by merely importing the mapping. `classify` returns None for an exception that is
    not the cloud's (a bug of ours stays a traceback in tests, not a message that hides it).
    """

    cloud: str  # how messages name it: AWS, GCP, Azure
    sdk_errors: Callable[[], tuple[type[BaseException], ...]]
    classify: Callable[[BaseException], Classified | None]

    def translate(self, exc: BaseException, doing: str) -> CloudError | None:
        if isinstance(exc, CloudError):
            return exc
        if not isinstance(exc, self.sdk_errors()):
            return None
        found = self.classify(exc)
        if found is None:
            return None
        if found.kind is None:
            return CloudError(f"{doing}: {self.cloud} said {found.code}: {found.message}", hint=found.hint or RESUME)
        return found.kind(doing, cloud=self.cloud, code=found.code, cloud_message=found.message, hint=found.hint)

    @contextmanager
    def calls(self, doing: str) -> Iterator[None]:
        """Run cloud calls; an SDK error inside leaves as the typed error saying what we were doing."""
        try:
            yield
        except CloudError:
            raise
        except Exception as exc:
            err = self.translate(exc, doing)
            if err is None:
                raise
            raise err from None

    def describe(self, exc: BaseException) -> Classified | None:
        """The kind, code and message of an SDK exception or typed error (None: not the cloud's)."""
        if isinstance(exc, TypedCloudError):
            return Classified(type(exc), exc.code, exc.cloud_message, exc.hint)
        if not isinstance(exc, self.sdk_errors()):
            return None
        return self.classify(exc)

    def kind_of(self, exc: BaseException) -> Kind | None:
        """The kind of an SDK exception or typed error, without building the message."""
        if isinstance(exc, TypedCloudError):
            return type(exc)
        if not isinstance(exc, self.sdk_errors()):
            return None
        found = self.classify(exc)
        return found.kind if found else None

    def is_kind(self, exc: BaseException, *kinds: Kind) -> bool:
        kind = self.kind_of(exc)
        return kind is not None and issubclass(kind, kinds)
