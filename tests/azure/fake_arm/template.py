"""A small evaluator of ARM template expressions, enough for the VM template Ray deploys (and
rlcloud's extension of it): parameters, variables, copy loops, conditions, and the functions
those use. The fake deploys what the template says, so a test sees the NICs and VMs Azure
would create from it, with the values the expressions produce.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class TemplateError(Exception):
    """An ARM InvalidTemplate error."""


@dataclass
class Scope:
    subscription_id: str
    resource_group: str
    location: str
    parameters: dict[str, Any]
    variables: dict[str, Any]
    copy_index: int | None = None

    @property
    def rg_id(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"


_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[(),.\[\]]))")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise TemplateError(f"cannot parse expression at {text[pos:]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    """Expression text -> tree: ("lit", value) | ("call", name, [args]) | ("get", node, key-node)."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, value: str | None = None) -> tuple[str, str]:
        token = self._peek()
        if token is None or (value is not None and token[1] != value):
            raise TemplateError(f"expected {value!r}, got {token}")
        self.pos += 1
        return token

    def parse(self) -> tuple[Any, ...]:
        node = self._expr()
        if self._peek() is not None:
            raise TemplateError(f"trailing tokens {self.tokens[self.pos :]}")
        return node

    def _expr(self) -> tuple[Any, ...]:
        kind, text = self._take()
        node: tuple[Any, ...]
        if kind == "str":
            node = ("lit", text[1:-1].replace("''", "'"))
        elif kind == "num":
            node = ("lit", int(text))
        elif kind == "name":
            self._take("(")
            args = []
            if self._peek() != ("punct", ")"):
                args.append(self._expr())
                while self._peek() == ("punct", ","):
                    self._take(",")
                    args.append(self._expr())
            self._take(")")
            node = ("call", text, args)
        else:
            raise TemplateError(f"unexpected {text!r}")
        while self._peek() in (("punct", "."), ("punct", "[")):
            if self._take()[1] == ".":
                node = ("get", node, ("lit", self._take()[1]))
            else:
                node = ("get", node, self._expr())
                self._take("]")
        return node


def _run(node: tuple[Any, ...], scope: Scope) -> Any:
    if node[0] == "lit":
        return node[1]
    if node[0] == "get":
        return _run(node[1], scope)[_run(node[2], scope)]
    name, args = node[1], node[2]
    if name == "if":  # ARM evaluates only the branch the condition picks
        return _run(args[1] if _run(args[0], scope) else args[2], scope)
    return _call(name, [_run(a, scope) for a in args], scope)


def _resource_id(scope: Scope, *args: Any) -> str:
    args = tuple(str(a) for a in args)
    rg = scope.resource_group
    if len(args) >= 3 and "/" not in args[0]:  # resourceId(resourceGroup, type, name...)
        rg, args = args[0], args[1:]
    kind, names = args[0].strip("/"), args[1:]
    namespace, *types = kind.split("/")
    path = f"/subscriptions/{scope.subscription_id}/resourceGroups/{rg}/providers/{namespace}"
    for type_, name in zip(types, names):
        path += f"/{type_}/{name}"
    return path


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "concat": lambda s, *a: [x for part in a for x in part] if a and isinstance(a[0], list) else "".join(str(x) for x in a),
    "equals": lambda s, a, b: a == b,
    "not": lambda s, a: not a,
    "and": lambda s, *a: all(a),
    "or": lambda s, *a: any(a),
    "greater": lambda s, a, b: a > b,
    "length": lambda s, a: len(a),
    "empty": lambda s, a: not a,
    "json": lambda s, a: json.loads(a),
    "createArray": lambda s, *a: list(a),
    "createObject": lambda s, *a: {a[i]: a[i + 1] for i in range(0, len(a), 2)},
    "string": lambda s, a: a if isinstance(a, str) else json.dumps(a),
    "mod": lambda s, a, b: a % b,
    "true": lambda s: True,
    "false": lambda s: False,
    "guid": lambda s, *a: str(uuid.uuid5(uuid.NAMESPACE_OID, "|".join(str(x) for x in a))),
    "resourceGroup": lambda s: {"id": s.rg_id, "name": s.resource_group, "location": s.location},
    "subscription": lambda s: {"id": f"/subscriptions/{s.subscription_id}", "subscriptionId": s.subscription_id},
    "resourceId": _resource_id,
}


def _lookup(table: dict[str, Any], name: str, what: str) -> Any:
    """ARM parameter and variable names are case-insensitive."""
    for key, value in table.items():
        if key.lower() == str(name).lower():
            return value
    raise TemplateError(f"The template {what} '{name}' is not found")


def _call(name: str, args: list[Any], scope: Scope) -> Any:
    if name == "parameters":
        return _lookup(scope.parameters, args[0], "parameter")
    if name == "variables":
        return evaluate(_lookup(scope.variables, args[0], "variable"), scope)
    if name == "copyIndex":
        if scope.copy_index is None:
            raise TemplateError("copyIndex() outside a copy loop")
        return scope.copy_index + (args[0] if args else 0)
    if name not in FUNCTIONS:
        raise TemplateError(f"The template function '{name}' is not supported by the fake")
    return FUNCTIONS[name](scope, *args)


def evaluate(value: Any, scope: Scope) -> Any:
    """Evaluate every `[expression]` string in a JSON value."""
    if isinstance(value, dict):
        return {evaluate(k, scope): evaluate(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [evaluate(v, scope) for v in value]
    if isinstance(value, str) and value.startswith("[") and value.endswith("]") and not value.startswith("[["):
        return _run(_Parser(value[1:-1]).parse(), scope)
    return value


def bind_parameters(template: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Template parameters with the deployment's values and defaults; ARM's errors otherwise."""
    declared = template.get("parameters") or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise TemplateError(
            f"The template parameters '{', '.join(unknown)}' in the parameters file are not valid; "
            "they are not present in the original template and can therefore not be provided at deployment time."
        )
    values = {}
    for name, spec in declared.items():
        if name in given:
            values[name] = given[name].get("value") if isinstance(given[name], dict) else given[name]
        elif "defaultValue" in spec:
            values[name] = spec["defaultValue"]
        else:
            raise TemplateError(f"Deployment template validation failed: 'The value for the template parameter '{name}' is not provided.'")
    return values


def expand_resources(template: dict[str, Any], scope: Scope) -> list[dict[str, Any]]:
    """The template's resources with copy loops unrolled, conditions applied and every
    expression evaluated (ARM's view of what the deployment creates)."""
    out = []
    for resource in template.get("resources") or []:
        copy = resource.get("copy")
        count = evaluate(copy["count"], scope) if copy else 1
        for index in range(count):
            item_scope = Scope(**{**scope.__dict__, "copy_index": index if copy else None})
            if "condition" in resource and not evaluate(resource["condition"], item_scope):
                continue
            body = {k: v for k, v in resource.items() if k not in ("copy", "condition", "dependsOn")}
            out.append(evaluate(body, item_scope))
    return out
