"""Jobs: one user end to end (the sensor starts it per partition; an operator can too)."""

import dagster as dg

# Partitioned by user, like the step it runs.
sync_user_job = dg.define_asset_job(
    "sync_user", selection=dg.AssetSelection.groups("raw", "models", "documents"),
    description="One user, end to end: sync Gmail, Asana and Xero, rebuild their model slices, export documents.")
