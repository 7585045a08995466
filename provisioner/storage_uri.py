"""The checkpoint URI rules, for the spec modules that import them from here.

The rules live in rlcloud_contract/storage_uri.py, shared with the runtime. provisioner/spec/
models.py and provisioner/spec/checks.py still import these names from this path; new code
imports rlcloud_contract.storage_uri.
"""

from __future__ import annotations

from rlcloud_contract.storage_uri import StorageLocation as StorageLocation
from rlcloud_contract.storage_uri import native_scheme as native_scheme
from rlcloud_contract.storage_uri import parse_uri as parse_uri
from rlcloud_contract.storage_uri import placement_issue as placement_issue
