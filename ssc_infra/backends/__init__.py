"""Backends: each reads an actual state and applies changes to one kind of system."""
