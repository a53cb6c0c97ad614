"""Sylo core: settings, app DB, crypto, signing, export layout and the CLI. Imports neither Dagster nor Flask."""
