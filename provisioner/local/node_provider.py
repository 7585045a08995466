"""The local cluster's node provider: Ray's FakeMultiNodeProvider with one change.

Ray's fake provider starts every simulated worker node as a full `ray._private.node.Node`,
log monitor included. All simulated nodes share the head's session directory, so each log
monitor tails the same worker log files and every line a task or actor prints reaches the
job driver once per node (4 copies with a learner and two samplers). The head's log monitor
already covers the whole shared directory, so simulated workers start without their own.

Loaded by Ray's autoscaler on the head (the `ray start --head` monitor process) through
`provider: {type: external, module: provisioner.local.node_provider.LocalNodeProvider}`; every
Node that process constructs is a simulated worker, which is why the override is per process.
"""

from __future__ import annotations

from typing import Any

from ray.autoscaler._private.fake_multi_node.node_provider import FakeMultiNodeProvider

from provisioner.local.node_provider_name import PROVIDER_CLASS  # noqa: F401  (the name Ray loads us by)


def _no_log_monitor_for_simulated_workers() -> None:
    import ray._private.node

    node_cls: Any = ray._private.node.Node
    if getattr(node_cls, "_rlcloud_quiet", False):
        return
    # The head's log monitor tails the shared session dir; a second one would only repeat it.
    node_cls.start_log_monitor = lambda self: None
    node_cls._rlcloud_quiet = True


class LocalNodeProvider(FakeMultiNodeProvider):
    def __init__(self, provider_config: dict[str, Any], cluster_name: str) -> None:
        super().__init__(provider_config, cluster_name)
        _no_log_monitor_for_simulated_workers()
