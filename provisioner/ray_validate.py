"""Run Ray's own config validation on a compiled config.

We call exactly what `ray up` calls (`prepare_config`, then `validate_config` against
ray-schema.json), so a config that passes here is one Ray accepts.
"""

from __future__ import annotations

import copy
from typing import Any

from provisioner.errors import RlcloudError


class RayConfigInvalid(RlcloudError):
    """Ray rejected a config rlcloud compiled: a bug in rlcloud, reported as such."""


def validate_ray_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate like `ray up` does; return the prepared (defaults-filled) config."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    candidate = copy.deepcopy(config)
    # prepare_config warns "Dropping the empty legacy field head_node/worker_nodes" for every
    # `type: external` config: noise about fields rlcloud never writes.
    import logging

    logging.getLogger("ray.autoscaler._private.util").setLevel(logging.ERROR)
    try:
        candidate = prepare_config(candidate)
        validate_config(candidate)
    except Exception as exc:  # jsonschema.ValidationError, ValueError, ...
        message = getattr(exc, "message", None) or str(exc)
        where = "/".join(str(p) for p in getattr(exc, "absolute_path", []) or [])
        raise RayConfigInvalid(
            f"Ray rejected the compiled config{f' at {where}' if where else ''}: {message}",
            hint="this is an rlcloud bug; please report it with your spec",
        ) from None
    return candidate
