"""Jobs: sync one user's services (the sensor and the schedule launch it per partition)."""

import dagster as dg

# Partitioned by user, like the assets it selects.
sync_user_job = dg.define_asset_job("sync_user", selection=dg.AssetSelection.groups("raw"),
                                    description="Bring one user's Gmail, Asana and Xero replica up to date.")
