"""rlcloud's Python API: everything the CLI does, callable from Python.

    from provisioner import api
    report = api.validate("cluster.yaml")
    print(api.render("cluster.yaml").to_yaml("cluster.yaml"))
"""

from provisioner.api.spec_ops import (
    RenderResult,
    Template,
    ValidationReport,
    catalog,
    json_schema,
    json_schema_text,
    render,
    template,
    template_path,
    templates,
    validate,
)

__all__ = [
    "RenderResult",
    "Template",
    "ValidationReport",
    "catalog",
    "json_schema",
    "json_schema_text",
    "render",
    "template",
    "template_path",
    "templates",
    "validate",
]
