"""The Compute Engine list `filter` language, as far as rlcloud and Ray use it:

    labels.rlcloud-cluster = c1
    name eq ray-c1-(head|worker)-[0-9a-f]{8}-compute
    ((labels.ray-node-type = head)) AND ((status = RUNNING) OR (status = STAGING)) AND (NOT labels.tpu_cores:*)

Comparisons: `=`, `!=` (exact), `eq`, `ne` (RE2 full match), `:*` (field present); AND,
OR, NOT and parentheses. Bare adjacent expressions are ANDed, as the API does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(r"\s*(\(|\)|!=|=|:\*|\"[^\"]*\"|'[^']*'|[^\s()=!:\"']+)")


def _tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ValueError(f"bad filter near {text[pos:]!r}")
        tokens.append(match.group(1))
        pos = match.end()
    return tokens


def _field(resource: dict[str, Any], path: str) -> Any:
    value: Any = resource
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _unquote(value: str) -> str:
    return value[1:-1] if value[:1] in "\"'" and value[-1:] == value[:1] else value


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        if self.pos >= len(self.tokens):
            raise ValueError("filter ends too early")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expression(self) -> Predicate:
        left = self.conjunction()
        while self.peek() == "OR":
            self.take()
            right = self.conjunction()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def conjunction(self) -> Predicate:
        left = self.unary()
        while self.peek() not in (None, ")", "OR"):
            if self.peek() == "AND":
                self.take()
            right = self.unary()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def unary(self) -> Predicate:
        if self.peek() == "NOT":
            self.take()
            inner = self.unary()
            return lambda r: not inner(r)
        if self.peek() == "(":
            self.take()
            inner = self.expression()
            if self.take() != ")":
                raise ValueError("unbalanced parentheses")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        path = self.take()
        op = self.take()
        if op == ":*":
            return lambda r: _field(r, path) is not None
        value = _unquote(self.take())
        if op == "=":
            return lambda r: str(_field(r, path)) == value
        if op == "!=":
            return lambda r: str(_field(r, path)) != value
        if op in ("eq", "ne"):
            pattern = re.compile(value)
            matches = lambda r: _field(r, path) is not None and pattern.fullmatch(str(_field(r, path))) is not None  # noqa: E731
            return matches if op == "eq" else (lambda r: not matches(r))
        raise ValueError(f"unsupported operator {op!r}")


def compile_filter(text: str | None) -> Predicate:
    if not text or not text.strip():
        return lambda r: True
    parser = _Parser(_tokens(text))
    predicate = parser.expression()
    if parser.peek() is not None:
        raise ValueError(f"unexpected {parser.peek()!r} in filter {text!r}")
    return predicate
