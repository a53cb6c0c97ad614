"""Thin Dagster asset wrappers over the pipelines core."""
