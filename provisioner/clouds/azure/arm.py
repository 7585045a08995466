"""Small helpers over the Azure SDK: plain ARM JSON out of any model, GET-or-None, and
waiting for a long-running operation.

The management SDKs disagree on model classes (network and compute return mapping-style
models, msi / authorization / resource return msrest-style ones); rlcloud reads everything as
the REST JSON Azure documents, which is also what the tests' fake ARM server holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from provisioner.clouds.azure.errors import ERRORS
from provisioner.clouds.errors import NotFound

ArmJson = dict[str, Any]


def rest_json(model: Any) -> ArmJson:
    """ARM's JSON shape of an SDK model (or of a dict already in that shape)."""
    if model is None:
        return {}
    if isinstance(model, Mapping):
        return model.as_dict() if hasattr(model, "as_dict") else dict(model)
    return model.serialize(keep_readonly=True)  # type: ignore[no-any-return]


def get_or_none(fetch: Callable[[], Any]) -> ArmJson | None:
    """The resource as ARM JSON, or None when Azure answers that it does not exist. (The
    reconciler does this itself for a declared resource's `read`; this is for other reads.)"""
    try:
        return rest_json(fetch())
    except Exception as exc:
        if ERRORS.is_kind(exc, NotFound):
            return None
        raise


def finished(started: Any) -> ArmJson:
    """What a call returned, as ARM JSON; for a long-running operation (a poller), its result
    once Azure reports it done (a failed operation raises like a failed call)."""
    return rest_json(started.result() if hasattr(started, "result") else started)
