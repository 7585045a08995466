"""rlcloud's control plane: typed cluster specs, the instance catalog, compilers to Ray
autoscaler configs, cloud provisioners, the Ray cluster and Ray Jobs wrappers, and the CLI.

Importing this package is cheap on purpose: `rlcloud --help` must not pull in Ray, torch
or a cloud SDK, so heavy imports live inside the functions that need them.
"""

__version__ = "0.1.0"
