"""Test helpers shared across test packages (servers, fakes, process checks)."""
