"""Telemetry: the learner -> driver channel, the per-step line, TensorBoard and W&B sinks."""
