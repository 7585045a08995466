"""Checkpoints: the crash-consistent store (store.py) and the learner state's files (state.py)."""

from runtime.checkpoint.store import CheckpointRef, CheckpointStore, TransferStats

__all__ = ["CheckpointRef", "CheckpointStore", "TransferStats"]
