"""The learner: a Ray Train TorchTrainer whose ranks run `loop.learner_loop` inside the run's
placement group (placement.py), wrapping the model for single/DDP/FSDP (parallel.py)."""
