"""What every task offers the runtime: prompts, the answer alphabet, and a verifier."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One prompt. The answer is never shipped with it: verifiers recompute it from the prompt."""

    prompt: str


class Task(ABC):
    """A verifiable task with fixed-length answers over a small alphabet.

    Fixed-length answers let the samplers generate exactly `answer_length` tokens, and the
    alphabet lets both samplers and learner mask every other token (constrained decoding),
    so a policy that starts uniform already earns about 1/len(alphabet) of the reward.
    """

    #: Characters a completion may contain.
    answer_alphabet: str

    @property
    @abstractmethod
    def answer_length(self) -> int:
        """Characters in every answer."""

    @property
    @abstractmethod
    def longest_prompt(self) -> int:
        """Characters in the longest prompt."""

    @property
    def longest_sequence(self) -> int:
        return self.longest_prompt + self.answer_length

    @abstractmethod
    def sample(self, rng: random.Random) -> Problem:
        """A fresh problem, drawn with `rng` (so a resumed run draws the same ones)."""

    @abstractmethod
    def answer(self, prompt: str) -> str:
        """The correct answer, recomputed from the prompt."""

    def reward(self, prompt: str, completion: str) -> float:
        """Share of answer positions the completion gets right, in [0, 1]."""
        expected = self.answer(prompt)
        hits = sum(1 for got, want in zip(completion, expected) if got == want)
        return hits / len(expected)
