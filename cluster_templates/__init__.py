"""Preset cluster specs users copy: `rlcloud templates` lists them, `rlcloud templates NAME` prints one."""
