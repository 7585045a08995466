"""Environment variables `rlcloud submit` sets for a job and the runtime reads.

Shared so that the name the submitter writes and the name the job reads cannot drift apart:
provisioner/jobs/runtime_env.py sets them, runtime/config_load.py reads them.
"""

from __future__ import annotations

#: The cluster spec's checkpoint URI (`storage.checkpoint_uri`, or the backend's default);
#: the job's `checkpoint_uri` defaults to it, so a resubmitted job resumes where it stopped.
CHECKPOINT_URI_ENV = "RLCLOUD_CHECKPOINT_URI"

#: The name of the cluster the job was submitted to.
CLUSTER_ENV = "RLCLOUD_CLUSTER"
