"""Raw sync assets: one multi-asset per service, one asset per stream table, one partition per user.

Thin wrappers: read the partition, call the sync core, report what it did.
"""

from datetime import timedelta

import dagster as dg

from pipelines.checks import run_checks
from assets.partitions import users
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
              for name in ("no_duplicate_ids", "cursor_consistent", "fresh")]

    @dg.multi_asset(name=f"{service}_sync", specs=specs, check_specs=checks, partitions_def=users,
                    can_subset=False, op_tags={"sylo/service": service}, pool=f"nango_{service}",
                    retry_policy=RETRY, description=f"Incremental {service} sync of one user, through Nango.")
    def sync(context: dg.AssetExecutionContext, runtime: dg.ResourceParam[Runtime]):
        user_id = context.partition_key
        if runtime.purge_requested([user_id], [service]):
            context.log.info(f"deleted {user_id}'s {service} data, as they asked when disconnecting it")
        [outcome] = runtime.sync([user_id], services=[service])[user_id]
        if outcome.status == "failed":
            raise failure(outcome)
        live = {table: len(runtime.warehouse.live_ids(user_id, table)) for table in tables}
        for table in tables:
            counts = outcome.counts.get(table)
            yield dg.MaterializeResult(asset_key=table, metadata={
                **outcome.metadata(), "dagster/row_count": live[table],
                "table_added": counts.added if counts else 0, "table_updated": counts.updated if counts else 0,
                "table_deleted": counts.deleted if counts else 0})
        stale_after = timedelta(hours=runtime.settings.stale_after_hours)
        for check in run_checks(runtime.warehouse, user_id, tables, stale_after):
            yield dg.AssetCheckResult(asset_key=check.table, check_name=check.name, passed=check.passed,
                                      severity=dg.AssetCheckSeverity.WARN if check.warn_only else dg.AssetCheckSeverity.ERROR,
                                      description=check.detail, metadata=check.metadata)

    return sync


def failure(outcome) -> Exception:
    """A failed sync, as the exception that tells the operator what to do and whether a retry helps."""
    where = f"{outcome.service} sync for {outcome.user_id}"
    if outcome.problem == "reauth":
        return dg.Failure(description=f"{where} needs the studio owner to reconnect {outcome.service} in the "
                                      f"dashboard; retrying will not help. {outcome.message}",
                          metadata=outcome.metadata(), allow_retries=False)
    if outcome.problem == "data":
        return dg.Failure(description=f"{where} got data it could not read: {outcome.message}. Progress up to the "
                                      "last good page is kept; if a retry fails the same way, report it with this run.",
                          metadata=outcome.metadata())
    return dg.Failure(description=f"{where} failed after the HTTP client's own retries: {outcome.message}. "
                                  "The step is retried with backoff; Nango or the provider may be down or rate limiting.",
                      metadata=outcome.metadata())


# Transient trouble is retried inside the HTTP client first; a step retry is the second line.
RETRY = dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.FULL)

raw_assets = [build_sync_asset(service) for service in TABLES]
