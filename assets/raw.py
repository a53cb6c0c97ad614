"""Raw sync assets: one multi-asset per service, one asset per stream table, one partition per user.

Thin wrappers: read the partition, call the sync core, report what it did.
"""

import dagster as dg

from pipelines.checks import run_checks
from pipelines.partitions import users
from pipelines.runtime import Runtime
from pipelines.sync import TABLES

DESCRIPTIONS = {
    "gmail_messages": "Gmail message headers, snippet, labels and thread per user (never bodies). "
                      "Trash and spam are tombstoned.",
    "asana_projects": "Asana projects per user, refreshed in full every sync; projects gone upstream are tombstoned.",
    "asana_tasks": "Asana tasks per user, polled by modified_since per project; deletions found by id reconciliation.",
    "xero_contacts": "Xero contacts per user (If-Modified-Since); ARCHIVED contacts are tombstoned.",
    "xero_invoices": "Xero sales invoices and bills per user (If-Modified-Since); DELETED/VOIDED are tombstoned.",
}
KIND = {"gmail": "gmail", "asana": "asana", "xero": "xero"}


def build_sync_asset(service: str) -> dg.AssetsDefinition:
    tables = TABLES[service]
    specs = [dg.AssetSpec(table, group_name="raw", description=DESCRIPTIONS[table], kinds={KIND[service]},
                          owners=["team:data"], tags={"sylo/service": service})
             for table in tables]
    checks = [dg.AssetCheckSpec(name, asset=table) for table in tables
              for name in ("no_duplicate_ids", "cursor_consistent")]

    @dg.multi_asset(name=f"{service}_sync", specs=specs, check_specs=checks, partitions_def=users,
                    can_subset=False, op_tags={"sylo/service": service})
    def sync(context: dg.AssetExecutionContext, runtime: dg.ResourceParam[Runtime]):
        user_id = context.partition_key
        [outcome] = runtime.sync([user_id], services=[service])[user_id]
        if outcome.status == "failed":
            raise dg.Failure(description=f"{service} sync for {user_id} failed: {outcome.message}",
                             metadata=outcome.metadata())
        live = {table: len(runtime.warehouse.live_ids(user_id, table)) for table in tables}
        for table in tables:
            counts = outcome.counts.get(table)
            yield dg.MaterializeResult(asset_key=table, metadata={
                **outcome.metadata(), "dagster/row_count": live[table],
                "table_added": counts.added if counts else 0, "table_updated": counts.updated if counts else 0,
                "table_deleted": counts.deleted if counts else 0})
        for check in run_checks(runtime.warehouse, user_id, tables):
            yield dg.AssetCheckResult(asset_key=check.table, check_name=check.name, passed=check.passed,
                                      severity=dg.AssetCheckSeverity.WARN if check.warn_only else dg.AssetCheckSeverity.ERROR,
                                      description=check.detail, metadata=check.metadata)

    return sync


raw_assets = [build_sync_asset(service) for service in TABLES]
