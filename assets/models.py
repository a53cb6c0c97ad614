"""One Dagster asset per SQL model, made by a factory from the models folder: its dependencies are
its `ref()`s and `source()`s, its checks the tests declared next to it (blocking)."""

from datetime import datetime, timezone

import dagster as dg

from pipelines.models import Model, ModelProject, ModelRunner
from assets.partitions import users
from pipelines.runtime import Runtime

PROJECT = ModelProject()


def _description(model: Model) -> str:
    comments = [line.strip("- ").strip() for line in model.template.splitlines() if line.startswith("--")]
    return " ".join(comments) or f"{model.schema}.{model.name}"


def run_started(context: dg.AssetExecutionContext) -> datetime:
    """One 'now' for every model of a run, so all of them agree on what today is."""
    stats = context.instance.get_run_stats(context.run.run_id)
    started = stats.start_time if stats and stats.start_time else None
    return datetime.fromtimestamp(started, tz=timezone.utc) if started else datetime.now(timezone.utc)


def build_model_asset(model: Model) -> dg.AssetsDefinition:
    deps = [dg.AssetKey(name) for name in model.refs]
    deps += [dg.AssetKey(PROJECT.source_tables[source].split(".")[-1]) for source in model.sources]
    checks = [dg.AssetCheckSpec(test.name, asset=model.name, blocking=True,
                                description=f"{test.kind} on {test.column}") for test in model.tests]

    @dg.asset(name=model.name, group_name="models", deps=deps, partitions_def=users, check_specs=checks,
              kinds={"sql"}, owners=["team:data"], code_version=model.digest, description=_description(model),
              tags={"sylo/layer": model.schema})
    def build(context: dg.AssetExecutionContext, runtime: dg.ResourceParam[Runtime]):
        runner = ModelRunner(runtime.warehouse, PROJECT)
        runner.prepare()
        result = runner.run_model(model, [context.partition_key], run_started(context),
                                  full=model.name in runner.stale_models())
        yield dg.MaterializeResult(metadata={"dagster/row_count": result.rows, "full_rebuild": result.full_rebuild,
                                             "seconds": round(result.seconds, 3), "relation": model.relation})
        for test in model.tests:
            failing = result.failures.get(test.name, 0)
            yield dg.AssetCheckResult(check_name=test.name, passed=failing == 0, metadata={"failing_rows": failing},
                                      description=None if not failing else f"{failing} rows fail {test.kind}")

    return build


model_assets = [build_model_asset(model) for model in PROJECT.order]
