"""Run Ray Train's learner ranks inside the run's one placement group.

The tension: the issue wants one placement group per run (learner bundles first, then one
per sampler) *and* the learner on Ray Train's TorchTrainer. Ray Train V2 (the default in Ray
2.60; `RAY_TRAIN_V2_ENABLED` defaults to 1) starts a `TrainController` actor that always
creates its own placement group for the workers (`WorkerGroup._create_placement_group`,
bundles = resources_per_worker x num_workers) and removes it when the worker group stops.
V1 reused a placement group it was started inside (`get_current_placement_group()` in
BackendExecutor); V2 dropped that, and it has no public option to pass one.

What we do: keep Ray Train for everything it does (the controller, worker actors, process
group setup, rank assignment, failure handling and restarts, `ray.train.report`) and change
only where its workers go, at three narrow points of the controller/worker-group classes:
- `TrainController.worker_group_cls` (a class attribute made for substitution) -> ours;
- `WorkerGroup._create_placement_group` -> the run's group, wrapped so that Ray Train's
  "shutdown" of it on restart or exit does not remove it (it belongs to the run);
- `WorkerGroup._create_workers` -> rank i goes to learner bundle `rank_bundles[i]` (ranks of
  one node share that node's bundle, so they are packed whatever the group's strategy).
Ray Train's PlacementGroupCleaner is left out too (it would remove the run's group, samplers
included, if the controller died). These are private names of a pinned Ray (==2.60.0 in
pyproject): `check_ray_train_supported` fails fast with a clear message if they change, and
tests/runtime/test_end_to_end.py asserts the learner really runs in the run's group and that
Ray Train creates no group of its own.

The alternative that uses public APIs only, a Train-owned group for the learner plus a
second group for the samplers, gives up the atomic reservation of the whole layout (samplers
could take GPUs the learner waits for) and the "one group per run" the issue asks for.
"""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ray.train.torch import TorchTrainer
from ray.train.v2._internal.execution.controller.controller import TrainController
from ray.train.v2._internal.execution.worker_group.placement_group_handle import PlacementGroupHandle
from ray.train.v2._internal.execution.worker_group.worker_group import WorkerGroup

from runtime.errors import RlcloudError

if TYPE_CHECKING:
    from ray.util.placement_group import PlacementGroup


@dataclass(frozen=True)
class LearnerPlacement:
    """The run's placement group and the learner bundle each rank goes to."""

    placement_group: PlacementGroup
    rank_bundles: tuple[int, ...]


def check_ray_train_supported() -> None:
    """Fail with a clear message if this Ray's Train internals are not the ones we adapt."""
    from ray.train.v2._internal.constants import is_v2_enabled

    if not is_v2_enabled():
        raise RlcloudError("the learner needs Ray Train V2, but RAY_TRAIN_V2_ENABLED=0 is set; unset it")
    expected = {
        "_create_placement_group": ["self", "scaling_config", "worker_group_context"],
        "_create_workers": ["self", "num_workers", "placement_group", "resources_per_worker", "placement_group_bundle_indices"],
    }
    if not hasattr(TorchTrainer, "_create_default_callbacks") or not hasattr(TorchTrainer, "_initialize_and_run_controller"):
        expected["(trainer hooks)"] = ["missing"]
    for name, params in expected.items():
        method = getattr(WorkerGroup, name, None)
        found = list(inspect.signature(method).parameters)[: len(params)] if method else []
        if found != params or getattr(TrainController, "worker_group_cls", None) is not WorkerGroup:
            import ray

            raise RlcloudError(
                f"this Ray ({ray.__version__}) changed Ray Train's worker placement internals "
                f"(WorkerGroup.{name}); rlcloud's learner placement supports Ray 2.60"
            )


class _RunPlacementGroup(PlacementGroupHandle):
    """The run's group as Ray Train sees it: ready, waitable, and never removed by Train."""

    def __init__(self, placement_group: PlacementGroup) -> None:
        self._pg = placement_group

    @property
    def placement_group(self) -> PlacementGroup:
        return self._pg

    def ready(self) -> Any:
        return self._pg.ready()

    def wait(self, timeout_seconds: float | int = 30) -> bool:
        return bool(self._pg.wait(timeout_seconds))

    def shutdown(self) -> None:
        # Ray Train calls this when a worker group stops (including before each restart).
        # The group is the run's: the samplers live in it and RayRuntime removes it.
        pass


class _RunPlacementWorkerGroup(WorkerGroup):
    learner_placement: ClassVar[LearnerPlacement]

    def _create_placement_group(self, scaling_config: Any, worker_group_context: Any) -> PlacementGroupHandle:
        return _RunPlacementGroup(self.learner_placement.placement_group)

    # Ray's private signature (more keywords each release): what we do not touch passes through.
    def _create_workers(  # type: ignore[override]
        self, num_workers: int, placement_group: Any, resources_per_worker: Any, placement_group_bundle_indices: Any = None, **kwargs: Any
    ) -> Any:
        if placement_group_bundle_indices is None:
            bundles = self.learner_placement.rank_bundles
            if len(bundles) != num_workers:
                raise RlcloudError(f"Ray Train asked for {num_workers} learner ranks; the run placed {len(bundles)}")
            placement_group_bundle_indices = list(bundles)
        return super()._create_workers(num_workers, placement_group, resources_per_worker, placement_group_bundle_indices, **kwargs)


class RunPlacementController(TrainController):
    """Ray Train's controller, placing its workers in the run's group."""

    def __init__(self, *, learner_placement: LearnerPlacement, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # A subclass per controller process, carrying this run's placement.
        self.worker_group_cls = type(  # type: ignore[assignment]  # a WorkerGroup subclass, made per run
            "RunPlacementWorkerGroup", (_RunPlacementWorkerGroup,), {"learner_placement": learner_placement}
        )


class LearnerTrainer(TorchTrainer):
    """TorchTrainer whose controller is `RunPlacementController`."""

    def __init__(self, *args: Any, learner_placement: LearnerPlacement, **kwargs: Any) -> None:
        check_ray_train_supported()
        self._learner_placement = learner_placement
        super().__init__(*args, **kwargs)

    def _create_default_callbacks(self) -> list[Any]:
        # Ray Train adds a detached PlacementGroupCleaner that removes the worker group's
        # placement group if the controller dies. Here that group is the run's: removing it
        # would also kill the samplers of a run that is still alive. The run's group is not
        # detached, so Ray removes it with the job anyway; drop the cleaner.
        from ray.train.v2._internal.callbacks.placement_group_callback import PlacementGroupCleanerCallback

        defaults = super()._create_default_callbacks()  # type: ignore[misc]  # Ray Train v2's, not in its stubs
        return [cb for cb in defaults if not isinstance(cb, PlacementGroupCleanerCallback)]

    def _initialize_and_run_controller(self, **controller_init_kwargs: Any) -> Any:
        # Ray 2.60 starts its TrainController as a 0-CPU actor on the driver's node, with the
        # Train env vars the driver set; ours starts the same way, with one more argument.
        import ray
        from ray._common.constants import RAY_WARN_BLOCKING_GET_INSIDE_ASYNC_ENV_VAR
        from ray.train.v2._internal.constants import DEFAULT_RAY_WARN_BLOCKING_GET_INSIDE_ASYNC_VALUE, get_env_vars_to_propagate
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        env_vars = get_env_vars_to_propagate()
        env_vars.setdefault(RAY_WARN_BLOCKING_GET_INSIDE_ASYNC_ENV_VAR, DEFAULT_RAY_WARN_BLOCKING_GET_INSIDE_ASYNC_VALUE)
        driver_node = ray.get_runtime_context().get_node_id()
        controller = (
            ray.remote(RunPlacementController)
            .options(
                num_cpus=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(driver_node, soft=False),
                runtime_env={"env_vars": env_vars},
            )
            .remote(learner_placement=self._learner_placement, **controller_init_kwargs)
        )
        if threading.current_thread() is threading.main_thread():
            self._register_sigint_handler(controller)  # type: ignore[attr-defined]  # Ray Train v2's private helper
        ray.get(controller.run.remote())  # type: ignore[attr-defined]  # an actor method
        return ray.get(controller.get_result.remote())  # type: ignore[attr-defined]
