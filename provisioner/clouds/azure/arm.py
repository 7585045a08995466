"""Small helpers over the Azure SDK: plain ARM JSON out of any model, GET-or-None, and waiting
out Azure AD replication.

The management SDKs disagree on model classes (network and compute return mapping-style
models, msi / authorization / resource return msrest-style ones); rlcloud reads everything as
the REST JSON Azure documents, which is also what the tests' fake ARM server holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from provisioner.clouds.azure.errors import error_code, is_not_found

T = TypeVar("T")

# Codes Azure returns while a just-created principal or role has not reached every replica.
REPLICATION_CODES = frozenset({"PrincipalNotFound", "RoleDefinitionDoesNotExist", "InvalidPrincipalId"})
REPLICATION_ATTEMPTS = 12


def rest_json(model: Any) -> dict[str, Any]:
    """ARM's JSON shape of an SDK model (or of a dict already in that shape)."""
    if model is None:
        return {}
    if isinstance(model, Mapping):
        return model.as_dict() if hasattr(model, "as_dict") else dict(model)  # type: ignore[union-attr]
    return model.serialize(keep_readonly=True)


def get_or_none(fetch: Callable[[], Any]) -> dict[str, Any] | None:
    """The resource as ARM JSON, or None when Azure answers 404."""
    try:
        return rest_json(fetch())
    except Exception as exc:
        if is_not_found(exc):
            return None
        raise


def delete_quietly(remove: Callable[[], Any]) -> None:
    """Start a delete and wait for it; a resource already gone counts as deleted."""
    try:
        poller = remove()
        if hasattr(poller, "result"):
            poller.result()
    except Exception as exc:
        if not is_not_found(exc):
            raise


def retry_while_replicating(call: Callable[[], T], pause_s: float) -> T:
    """Run `call`, retrying while Azure AD has not replicated what it refers to yet."""
    for attempt in range(REPLICATION_ATTEMPTS):
        try:
            return call()
        except Exception as exc:
            if error_code(exc) not in REPLICATION_CODES or attempt == REPLICATION_ATTEMPTS - 1:
                raise
            time.sleep(pause_s)
    raise AssertionError("unreachable")
