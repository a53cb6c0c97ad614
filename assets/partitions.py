"""One dynamic partition per Sylo user, shared by every per-user asset (reference/dagster.md §2.1)."""

import dagster as dg

users = dg.DynamicPartitionsDefinition(name="users")
