"""The one lazy-import helper: cloud SDKs, compilers and backends load on first use.

`rlcloud --help`, `validate` and `render` must not pay for (or need) boto3, the Google and
Azure SDKs, Ray or torch. So each driver (provisioner/drivers/) names what it needs as
strings, and this module turns them into objects only when a command uses that cloud:
`require` checks the SDK modules are installed without importing them, naming the pip
package and the rlcloud extra that provide a missing one; `load` imports "module:attribute".
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from typing import Any

from provisioner.errors import MissingDependencyError


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ModuleNotFoundError, ValueError):  # a parent package is missing, or blocked in sys.modules
        return False


def require(modules: Mapping[str, str], extra: str) -> None:
    """Raise MissingDependencyError for the first of `modules` (import name -> pip package)
    that is not installed, saying `pip install 'rlcloud[extra]'`. Imports nothing."""
    for module, package in modules.items():
        if not _installed(module):
            raise MissingDependencyError(package, extra)


def load(target: str) -> Any:
    """The object at "package.module:attribute", importing the module now."""
    module_name, _, attribute = target.partition(":")
    if not attribute:
        raise ValueError(f"lazy target {target!r} must be 'module:attribute'")
    return getattr(importlib.import_module(module_name), attribute)
