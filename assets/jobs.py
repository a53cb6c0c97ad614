"""Jobs: one user end to end (the sensor and the schedule launch it per partition)."""

import dagster as dg

# Partitioned by user, like the assets it selects.
sync_user_job = dg.define_asset_job(
    "sync_user", selection=dg.AssetSelection.groups("raw", "models", "documents"),
    description="One user, end to end: sync Gmail, Asana and Xero, rebuild their model slices, export documents.")
