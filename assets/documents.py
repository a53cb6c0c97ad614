"""Per-user context documents and MCP configs, exported as static files."""

import dagster as dg

from assets.models import run_started
from assets.partitions import users
from pipelines.documents.publish import publish
from pipelines.runtime import Runtime

MARTS = ["projects", "communications", "tasks", "invoices", "financials", "match_report"]


@dg.multi_asset(
    specs=[
        dg.AssetSpec("context_documents", group_name="documents", deps=[dg.AssetKey(m) for m in MARTS],
                     kinds={"markdown", "json", "yaml"}, owners=["team:data"],
                     description="all, projects, communications, tasks and financials, each in Markdown, JSON and "
                                 "YAML, exported to <exports>/<user>/context/."),
        dg.AssetSpec("mcp_configs", group_name="documents", kinds={"json"}, owners=["team:data"],
                     description="MCP client configs (Claude Code, Claude Desktop, Cursor, VS Code) pointing at "
                                 "SYLO_PUBLIC_URL/mcp, exported to <exports>/<user>/mcp/."),
    ],
    partitions_def=users,
    can_subset=False,
)
def documents(context: dg.AssetExecutionContext, runtime: dg.ResourceParam[Runtime]):
    user_id = context.partition_key
    [result] = publish(runtime.warehouse, runtime.exporter, [user_id], as_of=run_started(context),
                       settings=runtime.publish_settings, connections=runtime.connection_statuses([user_id]))
    layout = runtime.exporter.layout
    preview = "\n".join(layout.context(user_id, "all", "md").read_text().splitlines()[:20])
    yield dg.MaterializeResult(asset_key="context_documents", metadata={
        "written": len([f for f in result.written if f.startswith("context/")]), "unchanged": result.unchanged,
        "path": dg.MetadataValue.path(str(layout.user_dir(user_id) / "context")),
        "preview": dg.MetadataValue.md(preview)})
    yield dg.MaterializeResult(asset_key="mcp_configs", metadata={
        "written": len([f for f in result.written if f.startswith("mcp/")]),
        "path": dg.MetadataValue.path(str(layout.user_dir(user_id) / "mcp"))})
