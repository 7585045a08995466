"""The per-cluster Ray auth token: generated at `up`, stored 0600, read for every request.

The token never appears in a rendered YAML, a log line, a command line or `ps`: Ray reads it
from RAY_AUTH_TOKEN_PATH, and rlcloud sends it as an HTTP header.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from provisioner.errors import ClusterError


def ensure_token(path: Path) -> str:
    """Return the token at `path`, creating it (mode 0600, never world-readable) if missing."""
    if path.exists():
        return read_token(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    token = secrets.token_hex(32)
    # O_EXCL + mode at creation: there is no moment when the file exists with wider permissions.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)
    return token


def read_token(path: Path) -> str:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        token = path.read_text().strip()
    except FileNotFoundError:
        raise ClusterError(f"no auth token at {path}", hint="the cluster is not up; run `rlcloud up SPEC`") from None
    if mode & 0o077:
        raise ClusterError(f"{path} is readable by other users (mode {mode:o})", hint=f"chmod 600 {path}")
    if not token:
        raise ClusterError(f"auth token file {path} is empty")
    return token


def bearer_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
