"""Build a `RayRuntimeConfig` from its sources, highest first: `--set key=value`, the YAML
file, the environment (`RLCLOUD_CHECKPOINT_URI`, which `rlcloud submit` sets), defaults.

Errors name where the bad value came from: `job.yaml:12: task.group_size: ...`,
`--set max_steps=abc: max_steps: ...` or `$RLCLOUD_CHECKPOINT_URI: checkpoint_uri: ...`.
The YAML reader and pydantic-error wording are the ones cluster specs use (rlcloud_contract),
so a job config fails the way a cluster spec does.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from rlcloud_contract.env import CHECKPOINT_URI_ENV
from rlcloud_contract.errors import SpecError
from rlcloud_contract.validation import issues_from_validation
from rlcloud_contract.yaml_source import YamlDocument, read_yaml_file
from runtime.config import RayRuntimeConfig
from runtime.errors import ConfigError

#: config field -> environment variable that supplies its default (set by `rlcloud submit`)
ENV_DEFAULTS = {"checkpoint_uri": CHECKPOINT_URI_ENV}


def parse_override(item: str) -> tuple[tuple[str, ...], Any]:
    """`task.group_size=8` -> (("task", "group_size"), 8). Values are YAML scalars."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set max_steps=30")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return tuple(part.strip() for part in key.split(".")), value


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any, item: str) -> None:
    node = data
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {item}: {'.'.join(path[:-1])} is not a section")
        node = child
    node[path[-1]] = value


def load_config(path: str | Path | None, overrides: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> RayRuntimeConfig:
    environ = os.environ if environ is None else environ
    if path is not None:
        try:
            doc = read_yaml_file(path)
        except SpecError as exc:
            raise ConfigError(str(exc)) from None
    else:
        doc = YamlDocument(data={}, source="<defaults>")
    if doc.data is None:
        doc.data = {}
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.source}:1: expected a mapping of config fields, got {type(doc.data).__name__}")
    data = copy.deepcopy(doc.data)
    origins: dict[str, str] = {}  # dotted path -> where a non-YAML value came from
    for field, variable in ENV_DEFAULTS.items():
        if data.get(field) is None and environ.get(variable):
            data[field] = environ[variable]
            origins[field] = f"${variable}"
    for item in overrides:
        key_path, value = parse_override(item)
        _set(data, key_path, value, item)
        origins[".".join(key_path)] = f"--set {item}"
    try:
        return RayRuntimeConfig.model_validate(data)
    except ValidationError as exc:
        merged = YamlDocument(data=data, source=doc.source, lines=doc.lines)
        lines = []
        for issue in issues_from_validation(exc, merged, RayRuntimeConfig):
            origin = next((o for p, o in origins.items() if issue.path == p or issue.path.startswith(p + ".")), None)
            where = origin or (f"{doc.source}:{issue.line}" if issue.line else doc.source)
            lines.append(f"{where}: {issue.path or '(config)'}: {issue.message}")
        raise ConfigError("\n".join(lines)) from None


def describe_fields(model: type[BaseModel] = RayRuntimeConfig, prefix: str = "") -> list[str]:
    """`name (type, default): description` for every field, nested sections included."""
    lines = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            lines.extend(describe_fields(annotation, f"{prefix}{name}."))
            continue
        default = info.get_default(call_default_factory=True)
        lines.append(f"{prefix}{name} (default {default!r}): {info.description}")
    return lines
