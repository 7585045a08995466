"""What the provisioner (`rlcloud`) and the RL runtime (`runtime/`) must agree on, in one place.

The two halves ship separately: `rlcloud` runs on the operator's machine, `runtime` runs in
Ray jobs on the cluster, where the provisioner is not installed (`rlcloud submit` ships this
package next to `runtime`). Whatever both read therefore lives here and nowhere else:

- `errors`: the base error classes, so both map failures to the same exit codes and messages;
- `storage_uri`: the checkpoint URI schemes and how each is parsed and checked;
- `env`: the environment variables `rlcloud submit` sets for a job and the runtime reads;
- `yaml_source` / `validation`: YAML reading with line numbers and pydantic-error wording, so
  a job config fails the way a cluster spec does.

Dependencies: the standard library, pydantic and PyYAML only (no Ray, torch or cloud SDKs),
and never `provisioner` or `runtime` (tests/test_layering.py checks both).
"""
