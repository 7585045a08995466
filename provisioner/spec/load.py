"""Load a spec file: YAML -> the cloud's spec model, with every error as `FILE:LINE path: message`.

The YAML reader and the pydantic-error wording are rlcloud_contract's (yaml_source.py,
validation.py), shared with the runtime's job config loader.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from provisioner import drivers
from provisioner.errors import SpecError, SpecIssue
from provisioner.spec.checks import SpecRuleViolations
from provisioner.spec.models import ClusterSpecBase
from rlcloud_contract.validation import issues_from_validation
from rlcloud_contract.yaml_source import YamlDocument, parse_yaml_text, read_yaml_file


def spec_from_document(doc: YamlDocument) -> ClusterSpecBase:
    """Validate parsed YAML into the right spec class; raise SpecError listing every issue."""
    data = doc.data
    if not isinstance(data, dict):
        raise SpecError.single(doc.source, f"expected a mapping with at least `name:` and `cloud:`, got {type(data).__name__}", line=1)
    cloud = data.get("cloud")
    known = drivers.names()
    if cloud is None:
        raise SpecError.single(doc.source, f"required field is missing; one of: {', '.join(known)}", path="cloud", line=1)
    if str(cloud) not in known:
        raise SpecError.single(
            doc.source,
            f"unknown cloud {cloud!r}; expected one of: {', '.join(known)}",
            path="cloud",
            line=doc.line_of(("cloud",)),
        )
    # The class the discriminated union (drivers.spec_adapter) picks for this `cloud`, validated
    # directly so error locations carry no union tag.
    spec_cls = drivers.driver_for(str(cloud)).spec_class
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
