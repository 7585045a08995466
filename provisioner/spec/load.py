"""Load a spec file: YAML -> the cloud's spec model, with every error as `FILE:LINE path: message`.

Pydantic's own messages are close to what a user needs; we add the line, replace "Extra
inputs are not permitted" with the fields that are allowed there, and drop pydantic's
internal location parts so paths match what the user wrote.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from provisioner.errors import SpecError, SpecIssue
from provisioner.spec.checks import SpecRuleViolations
from provisioner.spec.models import SPEC_CLASSES, ClusterSpecBase
from provisioner.spec.yaml_source import YamlDocument, parse_yaml_text, read_yaml_file


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


def _message(error: dict[str, Any], spec_cls: type[BaseModel], path: tuple[Any, ...]) -> str:
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


def spec_from_document(doc: YamlDocument) -> ClusterSpecBase:
    """Validate parsed YAML into the right spec class; raise SpecError listing every issue."""
    data = doc.data
    if not isinstance(data, dict):
        raise SpecError.single(doc.source, f"expected a mapping with at least `name:` and `cloud:`, got {type(data).__name__}", line=1)
    cloud = data.get("cloud")
    if cloud is None:
        raise SpecError.single(doc.source, "required field is missing; one of: aws, gcp, azure, local", path="cloud", line=1)
    spec_cls = SPEC_CLASSES.get(str(cloud))
    if spec_cls is None:
        raise SpecError.single(
            doc.source,
            f"unknown cloud {cloud!r}; expected one of: {', '.join(SPEC_CLASSES)}",
            path="cloud",
            line=doc.line_of(("cloud",)),
        )
    try:
        return spec_cls.model_validate(data)
    except ValidationError as exc:
        raise SpecError(doc.source, issues_from_validation(exc, doc, spec_cls)) from None
    except SpecRuleViolations as exc:
        issues = [SpecIssue(path=".".join(str(p) for p in i.path), message=i.message, line=doc.line_of(i.path)) for i in exc.issues]
        raise SpecError(doc.source, issues) from None


def load_spec(path: str | Path) -> ClusterSpecBase:
    """Read and validate a spec file. Raises SpecError (exit code 2) on any problem."""
    return spec_from_document(read_yaml_file(path))


def load_spec_text(text: str, source: str = "<spec>") -> ClusterSpecBase:
    """Validate a spec given as YAML text (for tests and the Python API)."""
    return spec_from_document(parse_yaml_text(text, source))
