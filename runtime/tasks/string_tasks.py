"""Two small verifiable tasks a tiny model learns on CPU in a minute.

`reverse` is the demo's: each answer position depends on one prompt position, so a small
transformer finds it by trial and reward quickly (mean reward ~0.1 -> >0.9 in about 40 steps
of 32 prompts x 8 completions). `add` is harder (the answer combines two operands).
"""

from __future__ import annotations

import random

from runtime.tasks.base import Problem, Task

DIGITS = "0123456789"


class ReverseTask(Task):
    """`"472>"` -> `"274"`: write the string backwards."""

    def __init__(self, length: int, alphabet: str = DIGITS) -> None:
        self.length = length
        self.answer_alphabet = alphabet

    @property
    def answer_length(self) -> int:
        return self.length

    @property
    def longest_prompt(self) -> int:
        return self.length + 1

    def sample(self, rng: random.Random) -> Problem:
        word = "".join(rng.choice(self.answer_alphabet) for _ in range(self.length))
        return Problem(prompt=f"{word}>")

    def answer(self, prompt: str) -> str:
        if not prompt.endswith(">"):
            raise ValueError(f"not a reverse prompt: {prompt!r}")
        return prompt[:-1][::-1]


class AddTask(Task):
    """`"7+5="` -> `"12"`: the sum, zero-padded to the widest possible sum."""

    answer_alphabet = DIGITS

    def __init__(self, max_operand: int) -> None:
        self.max_operand = max_operand
        self.width = len(str(2 * max_operand))

    @property
    def answer_length(self) -> int:
        return self.width

    @property
    def longest_prompt(self) -> int:
        return 2 * len(str(self.max_operand)) + 2

    def sample(self, rng: random.Random) -> Problem:
        a, b = rng.randint(0, self.max_operand), rng.randint(0, self.max_operand)
        return Problem(prompt=f"{a}+{b}=")

    def answer(self, prompt: str) -> str:
        left, sep, rest = prompt.partition("+")
        right, eq, tail = rest.partition("=")
        if not (sep and eq and not tail and left.isdigit() and right.isdigit()):
            raise ValueError(f"not an addition prompt: {prompt!r}")
        return str(int(left) + int(right)).zfill(self.width)
