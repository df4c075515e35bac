"""Inventory sources: each loads into one validated Region."""
