"""Read a YAML file into plain Python data plus a map from field path to line number.

Validation errors name a field path ("node_groups.learner.max_nodes"); users fix files by
line, so we keep where each key was written. PyYAML silently keeps the last of two equal
keys; in a spec or job config that is almost always a mistake, so we reject duplicates here.

Shared (rlcloud_contract) because cluster specs (provisioner/spec/load.py) and job configs
(runtime/config_load.py) are read by the same rules and fail with the same `FILE:LINE` words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rlcloud_contract.errors import SpecError

PathKey = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """Parsed spec data, where it came from, and the line of every key and list item."""

    data: Any
    source: str
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line_of(self, path: PathKey) -> int | None:
        """Line of the deepest known prefix of `path` (a missing field points at its parent)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


def _walk(node: yaml.Node, path: PathKey, lines: dict[PathKey, int], source: str) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                where = ".".join(str(p) for p in (*path, key))
                raise SpecError.single(
                    source,
                    f"duplicate key (first written on line {seen[key]}); keep one",
                    path=where,
                    line=line,
                )
            seen[key] = line
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), lines, source)


def parse_yaml_text(text: str, source: str) -> YamlDocument:
    """Parse YAML text; raise SpecError (exit 2) with a line number when it is not YAML."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError.single(source, f"not valid YAML: {problem}", line=line) from None
    if node is None:
        raise SpecError.single(source, "the file is empty; a spec needs at least `name:` and `cloud:`")
    lines: dict[PathKey, int] = {}
    _walk(node, (), lines, source)
    loader = yaml.SafeLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:  # constructor errors (bad tags, etc.)
        mark = getattr(exc, "problem_mark", None)
        raise SpecError.single(source, f"not valid YAML: {exc}", line=mark.line + 1 if mark is not None else None) from None
    finally:
        loader.dispose()
    return YamlDocument(data=data, source=source, lines=lines)


def read_yaml_file(path: str | Path) -> YamlDocument:
    """Read and parse a spec file; a missing or unreadable file is a SpecError too."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError.single(str(path), "file not found") from None
    except IsADirectoryError:
        raise SpecError.single(str(path), "is a directory, expected a YAML spec file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError.single(str(path), f"cannot read file: {exc}") from None
    return parse_yaml_text(text, str(path))
