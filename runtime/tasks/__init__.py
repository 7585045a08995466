"""Verifiable tasks: prompts made by code, rewards checked by code (no reward model).

Pure Python on purpose: verification runs as many small Ray tasks (seed 001), and a worker
that only imports this package starts in milliseconds rather than paying torch's import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime.tasks.base import Problem, Task
from runtime.tasks.string_tasks import AddTask, ReverseTask

if TYPE_CHECKING:
    from runtime.config import TaskConfig

__all__ = ["AddTask", "Problem", "ReverseTask", "Task", "task_for"]


def task_for(config: TaskConfig) -> Task:
    """The task a config describes."""
    if config.kind == "reverse":
        return ReverseTask(length=config.length, alphabet=config.alphabet)
    if config.kind == "add":
        return AddTask(max_operand=config.max_operand)
    raise ValueError(f"unknown task kind {config.kind!r}")
