"""Pydantic validation errors as `SpecIssue`s: the user's field path, its line, and wording
a person can act on.

Pydantic's own messages are close to what a user needs; we add the line, replace "Extra
inputs are not permitted" with the fields that are allowed there, and drop pydantic's
internal location parts so paths match what the user wrote. Shared (rlcloud_contract) so a
job config (runtime/config_load.py) fails the way a cluster spec (provisioner/spec/load.py)
does.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from rlcloud_contract.errors import SpecIssue
from rlcloud_contract.yaml_source import YamlDocument


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel inside Optional[...], Annotated[...], dict[str, M] or list[M], if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


def _model_at(cls: type[BaseModel], path: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that validates the mapping at `path` (skipping dict keys / list indices)."""
    current: type[BaseModel] | None = cls
    expect_container_key = False
    for part in path:
        if current is None:
            return None
        if expect_container_key:
            expect_container_key = False
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        origin = typing.get_origin(field.annotation)
        nested = _nested_model(field.annotation)
        if nested is not None and origin in (dict, list):
            expect_container_key = True
        current = nested
    return current


def _clean_loc(loc: tuple[Any, ...], data: Any, keep_last: bool) -> tuple[Any, ...]:
    """Keep only the loc parts that index into the user's data (drops union/function tags)."""
    cleaned: list[Any] = []
    node = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(node, dict) and part in node:
            cleaned.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            cleaned.append(part)
            node = node[part]
        elif last and keep_last and not (isinstance(part, str) and ("[" in part or "(" in part)):
            cleaned.append(part)
        # else: an internal tag such as "function-after[...]" or "literal['auto']"
    return tuple(cleaned)


def _message(error: Mapping[str, Any], spec_cls: type[BaseModel], path: tuple[Any, ...]) -> str:
    kind = error["type"]
    msg: str = error["msg"]
    if kind == "extra_forbidden":
        parent = _model_at(spec_cls, path[:-1])
        allowed = sorted(parent.model_fields) if parent else []
        hint = f"; allowed here: {', '.join(allowed)}" if allowed else ""
        import difflib

        close = difflib.get_close_matches(str(path[-1]), allowed, n=1) if allowed else []
        if close:
            hint = f"; did you mean {close[0]!r}?" + hint
        return f"unknown field{hint}"
    if kind == "missing":
        field = _model_at(spec_cls, path[:-1])
        info = field.model_fields.get(str(path[-1])) if field else None
        desc = f" ({info.description})" if info is not None and info.description else ""
        return f"required field is missing{desc}"
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if kind in {"int_parsing", "int_type", "float_parsing", "bool_parsing", "string_type", "dict_type", "list_type", "model_type"}:
        got = error.get("input")
        msg = f"{msg} (got {got!r})" if not isinstance(got, (dict, list)) else msg
    return msg


def issues_from_validation(exc: ValidationError, doc: YamlDocument, spec_cls: type[BaseModel]) -> list[SpecIssue]:
    issues: list[SpecIssue] = []
    seen: set[tuple[str, str]] = set()
    for error in exc.errors(include_url=False):
        path = _clean_loc(tuple(error["loc"]), doc.data, keep_last=error["type"] in {"missing", "extra_forbidden"})
        message = _message(error, spec_cls, path)
        dotted = ".".join(str(p) for p in path)
        if (dotted, message) in seen:
            continue
        seen.add((dotted, message))
        issues.append(SpecIssue(path=dotted, message=message, line=doc.line_of(path)))
    return issues
