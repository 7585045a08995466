"""rlcloud's data plane: the RL learner/sampler job that runs on a Ray cluster.

`python -m runtime.train --config examples/job.yaml` is the entry point. The public Python
API is `RayRuntime` and `RayRuntimeConfig`; both are imported lazily so that importing this
package (the provisioner may) costs neither torch nor ray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.config import RayRuntimeConfig
    from runtime.driver import RayRuntime

__all__ = ["RayRuntime", "RayRuntimeConfig"]


def __getattr__(name: str) -> Any:
    if name == "RayRuntime":
        from runtime.driver import RayRuntime

        return RayRuntime
    if name == "RayRuntimeConfig":
        from runtime.config import RayRuntimeConfig

        return RayRuntimeConfig
    raise AttributeError(name)
