"""Dagster code location and the data core it drives (Nango client, sync engine, warehouse)."""
