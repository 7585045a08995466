"""Human-friendly value types for specs: "A100:8", "200GB", "1.5TB".

People write specs by hand; a field that accepts `disk: 500GB` and `accelerators: H100:8`
reads like the docs they copied it from. Each type below parses the string form and still
accepts the structured form (a number, or {name, count}), and serialises back to the string.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

_ACCEL_RE = re.compile(r"^\s*(?P<name>[A-Za-z][A-Za-z0-9._-]*?)\s*(?::\s*(?P<count>\d+))?\s*$")


class AcceleratorRequest(BaseModel):
    """A GPU request: model name and count per node, written `NAME:COUNT` (e.g. `H100:8`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[
        str,
        Field(
            description="GPU model, e.g. A100, A100-80GB, H100, H200, L4, A10G, L40S. Case-insensitive; normalised to upper case.",
            min_length=1,
        ),
    ]
    count: Annotated[int, Field(description="GPUs per node.", ge=1, le=16)] = 1

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = _ACCEL_RE.match(value)
            if not match:
                raise ValueError(f"expected NAME:COUNT such as 'H100:8' or 'L4:1', got {value!r}")
            count = match.group("count")
            return {"name": match.group("name"), "count": int(count) if count else 1}
        return value

    @model_validator(mode="after")
    def _normalise(self) -> AcceleratorRequest:
        object.__setattr__(self, "name", self.name.upper())
        return self

    def __str__(self) -> str:
        return f"{self.name}:{self.count}"

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        # The string form is what people write; the object form is what Python passes.
        structured = handler(core_schema)
        return {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*[A-Za-z][A-Za-z0-9._-]*\s*(:\s*\d+)?\s*$", "examples": ["H100:8", "L4:1"]},
                structured,
            ]
        }


_SIZE_RE = re.compile(r"^\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>[KMGTP]i?B?|B)?\s*$", re.IGNORECASE)
_UNIT_GB = {
    "": 1.0,
    "B": 1e-9,
    "KB": 1e-6,
    "MB": 1e-3,
    "GB": 1.0,
    "TB": 1e3,
    "PB": 1e6,
    "KIB": 1024 / 1e9,
    "MIB": 1024**2 / 1e9,
    "GIB": 1024**3 / 1e9,
    "TIB": 1024**4 / 1e9,
}


def parse_size_gb(value: Any) -> Any:
    """'200GB' -> 200, '1TB' -> 1000, 500 -> 500 (a bare number means GB)."""
    if isinstance(value, bool):
        raise ValueError("expected a size like 200GB or a number of GB, got a boolean")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if not match:
            raise ValueError(f"expected a size like '200GB', '1TB' or a number of GB, got {value!r}")
        unit = (match.group("unit") or "").upper()
        if unit and not unit.endswith("B"):
            unit += "B"
        if unit not in _UNIT_GB:
            raise ValueError(f"unknown size unit in {value!r}; use GB or TB")
        return float(match.group("num")) * _UNIT_GB[unit]
    return value


def _round_gb(value: Any) -> Any:
    parsed = parse_size_gb(value)
    if isinstance(parsed, float) and parsed.is_integer():
        return int(parsed)
    if isinstance(parsed, float):
        return int(parsed + 0.999999)  # disks are whole GB; round a fraction up
    return parsed


DiskGB = Annotated[
    int,
    BeforeValidator(_round_gb),
    PlainSerializer(lambda v: v, return_type=int),
    Field(ge=10, le=65536, description="Disk size in GB: a number or a string like '200GB' or '1TB'."),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 10, "maximum": 65536},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*([KMGTP]i?B?|B)?\s*$"},
            ],
            "description": "Disk size in GB: a number or a string like '200GB' or '1TB'.",
        }
    ),
]
