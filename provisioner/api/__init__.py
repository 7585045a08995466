"""rlcloud's Python API: everything the CLI does, callable from Python.

from provisioner import api
report = api.validate("cluster.yaml")
print(api.render("cluster.yaml").to_yaml("cluster.yaml"))
"""

from provisioner.api import cluster_ops, job_ops
from provisioner.api.cluster_ops import down, plan, status, up
from provisioner.api.job_ops import jobs, logs, stop, submit
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
    "cluster_ops",
    "down",
    "job_ops",
    "jobs",
    "logs",
    "plan",
    "status",
    "stop",
    "submit",
    "up",
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
