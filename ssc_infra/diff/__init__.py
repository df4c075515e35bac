"""Diffs: per backend, pure functions (desired, actual) -> that backend's Section of the plan."""
