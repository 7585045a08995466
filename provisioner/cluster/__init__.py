"""Talking to a running Ray cluster: the dashboard endpoint (direct or via SSH tunnel), status, readiness."""
