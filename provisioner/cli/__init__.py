"""The `rlcloud` command line: parse, call provisioner.api, print. Nothing heavy at import."""
