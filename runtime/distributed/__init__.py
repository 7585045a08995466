"""Placement and fan-out primitives the runtime is built on (seed 002's API):
`RayVirtualCluster` (one placement group per run), `RayWorkerGroup` (actors on its bundles)
and `BatchedDataDict` (the batch format every stage passes along)."""
