"""What the operator sees in the Dagster UI: every asset and check, declared once.

Raw tables come from the services registry, models from the models folder (their dependencies
are their `ref()`s and `source()`s), documents last. One step per user materializes them all
(`assets/user.py`), and the batch job reports against the same keys (`assets/batch.py`).
"""

from __future__ import annotations

import dagster as dg

from pipelines.documents.build import MARTS
from pipelines.models import ModelProject
from sylo.services import SERVICES

MODELS = ModelProject()
RAW_CHECKS = {
    "sync_succeeded": "The last sync of this user's service ran to the end (ERROR: see the description for what to do).",
    "no_duplicate_ids": "No provider id is held twice for this user.",
    "cursor_consistent": "The sync cursor agrees with the newest rows it claims to cover.",
    "fresh": "The last successful sync is newer than SYLO_STALE_AFTER_HOURS (warns only).",
}
DOCUMENTS = ("context_documents", "mcp_configs")


def raw_specs() -> list[dg.AssetSpec]:
    return [dg.AssetSpec(table.name, group_name="raw", description=table.description, kinds={service.name},
                         owners=["team:data"], tags={"sylo/service": service.name}, skippable=True)
            for service in SERVICES for table in service.tables]


def model_specs() -> list[dg.AssetSpec]:
    specs = []
    for model in MODELS.order:
        deps = [dg.AssetKey(name) for name in model.refs]
        deps += [dg.AssetKey(MODELS.source_tables[source].split(".")[-1]) for source in model.sources]
        column_schema = dg.TableSchema(columns=[dg.TableColumn(name, description=text or None)
                                                for name, text in model.columns.items()])
        specs.append(dg.AssetSpec(model.name, group_name="models", deps=deps, owners=["team:data"],
                                  kinds={"csv"} if model.materialized == "seed" else {"sql"},
                                  code_version=model.digest, description=model.description or model.relation,
                                  tags={"sylo/layer": model.schema},
                                  metadata={"dagster/column_schema": column_schema} if model.columns else None,
                                  skippable=True))
    return specs


def document_specs() -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec("context_documents", group_name="documents", deps=[dg.AssetKey(m) for m in MARTS],
                     kinds={"markdown", "json", "yaml"}, owners=["team:data"], skippable=True,
                     description="all, projects, communications, tasks and financials, each in Markdown, JSON and "
                                 "YAML, exported to <exports>/<user>/context/."),
        dg.AssetSpec("mcp_configs", group_name="documents", kinds={"json"}, owners=["team:data"], skippable=True,
                     description="MCP client configs (Claude Code, Claude Desktop, Cursor, VS Code) pointing at "
                                 "SYLO_PUBLIC_URL/mcp, exported to <exports>/<user>/mcp/."),
    ]


def check_specs() -> list[dg.AssetCheckSpec]:
    raw = [dg.AssetCheckSpec(name, asset=table.name, description=description)
           for service in SERVICES for table in service.tables for name, description in RAW_CHECKS.items()]
    models = [dg.AssetCheckSpec(test.name, asset=model.name, description=f"{test.kind} on {test.column}")
              for model in MODELS.order for test in model.tests]
    return raw + models


ASSET_SPECS = [*raw_specs(), *model_specs(), *document_specs()]
CHECK_SPECS = check_specs()
