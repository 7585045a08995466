"""`RayWorkerGroup`: one actor per bundle of a `RayVirtualCluster`, called all at once.

Each actor reserves exactly its bundle's resources (so a sampler bundle {CPU: 1, GPU: 1} is
one sampler with one GPU, simulated or not). The group pickles (it is only actor handles and
the cluster), so the learner can drive the samplers from inside Ray Train.
"""

from __future__ import annotations

from typing import Any

from runtime.distributed.virtual_cluster import RayVirtualCluster


class RayWorkerGroup:
    def __init__(
        self,
        cluster: RayVirtualCluster,
        worker_class: type,
        bundle_indices: list[int],
        *,
        init_kwargs: dict[str, Any] | None = None,
        per_worker_kwargs: list[dict[str, Any]] | None = None,
        max_restarts: int = 0,
        name: str = "worker",
    ) -> None:
        import ray

        if per_worker_kwargs is not None and len(per_worker_kwargs) != len(bundle_indices):
            raise ValueError("per_worker_kwargs needs one entry per bundle")
        self.cluster = cluster
        self.bundle_indices = list(bundle_indices)
        self.name = name
        remote_cls: Any = ray.remote(worker_class)
        self.workers: list[Any] = []
        for position, bundle_index in enumerate(self.bundle_indices):
            resources = dict(cluster.bundles[bundle_index].resources)
            options: dict[str, Any] = {
                "num_cpus": resources.pop("CPU", 0),
                "num_gpus": resources.pop("GPU", 0),
                "scheduling_strategy": cluster.scheduling(bundle_index),
                "max_restarts": max_restarts,
            }
            if resources:
                options["resources"] = resources
            kwargs = {**(init_kwargs or {}), **(per_worker_kwargs[position] if per_worker_kwargs else {})}
            self.workers.append(remote_cls.options(**options).remote(**kwargs))

    def __len__(self) -> int:
        return len(self.workers)

    # ----- fan-out: the `_async` forms return ObjectRefs so callers can overlap work

    def run_all_workers_single_data_async(self, method_name: str, *args: Any, **kwargs: Any) -> list[Any]:
        """Call `method_name(*args, **kwargs)` on every worker; same arguments for all.

        A top-level ObjectRef argument is resolved by Ray on each worker's node: an object
        put once is fetched once per node and read zero-copy, never re-sent per worker."""
        return [getattr(worker, method_name).remote(*args, **kwargs) for worker in self.workers]

    def run_all_workers_multiple_data_async(self, method_name: str, data_list: list[Any], **kwargs: Any) -> list[Any]:
        """Call `method_name(data_list[i], **kwargs)` on worker i."""
        if len(data_list) != len(self.workers):
            raise ValueError(f"{len(data_list)} data items for {len(self.workers)} workers")
        return [getattr(worker, method_name).remote(data, **kwargs) for worker, data in zip(self.workers, data_list)]

    def run_all_workers_single_data(self, method_name: str, *args: Any, **kwargs: Any) -> list[Any]:
        import ray

        return ray.get(self.run_all_workers_single_data_async(method_name, *args, **kwargs))

    def run_all_workers_multiple_data(self, method_name: str, data_list: list[Any], **kwargs: Any) -> list[Any]:
        import ray

        return ray.get(self.run_all_workers_multiple_data_async(method_name, data_list, **kwargs))

    def run_single_worker(self, index: int, method_name: str, *args: Any, **kwargs: Any) -> Any:
        import ray

        return ray.get(getattr(self.workers[index], method_name).remote(*args, **kwargs))

    def shutdown(self) -> None:
        import ray

        for worker in self.workers:
            ray.kill(worker, no_restart=True)
        self.workers = []
