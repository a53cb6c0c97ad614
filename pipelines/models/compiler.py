"""A model's SQL as a sqlglot tree, ready to run: macros expanded, per-user filters in front.

`source()` reads live rows only; in a run for some users every source and every ref to a table
model is narrowed to `run_users`. Both happen on the parsed tree: each such table becomes a CTE
(`src__gmail__messages`, `ref__stg_asana_tasks`) put ahead of the model's own, and the table is
read through it under its old name. The models are written in Postgres SQL; sqlglot writes each
warehouse's dialect.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache

from sqlglot import exp

from pipelines.models.project import Model, ModelProject
from pipelines.models.properties import ModelError
from pipelines.models.templates import Macros
from pipelines.warehouse.statements import SqlError, parse, statements, write

PARAMETERS = ("today", "as_of")


def compile_select(project: ModelProject, model: Model, as_of: datetime, *, filtered: bool) -> exp.Query:
    """The model's SELECT for a run at `as_of`; `filtered` narrows it to the run's users."""
    macros = Macros(lambda name: project.models[name].relation, project.source_tables.__getitem__)
    text = macros.render(model.name, model.template)
    # (CTE name suffix, relation, the block that narrows it, narrowed to run_users?) per table to read through
    filters = tuple((service + "__" + table, relation, "source_rows", filtered)
                    for (service, table), relation in macros.sources.items())
    filters += tuple((name, relation, "user_rows", True) for name, relation in macros.refs.items()
                     if filtered and project.models[name].per_user)
    moment = as_of.astimezone(timezone.utc)
    return exp.replace_placeholders(_parse(model.name, text, filters),
                                    today=moment.date().isoformat(), as_of=moment.isoformat())


def compile_sql(project: ModelProject, model: Model, dialect: str, as_of: datetime, *, filtered: bool) -> str:
    """The model's SELECT as text in `dialect` (what `dbt compile` shows)."""
    return write(compile_select(project, model, as_of, filtered=filtered), dialect)


@lru_cache(maxsize=256)
def _parse_model(model: str, text: str) -> exp.Query:
    """Parse a model's SQL once (shared: copy before changing it)."""
    try:
        trees = parse(text, f"model {model}")
    except SqlError as exc:
        raise ModelError(str(exc)) from exc
    if len(trees) != 1 or not isinstance(trees[0], exp.Query):
        raise ModelError(f"model {model} must be one SELECT statement")
    unknown = {p.name for p in trees[0].find_all(exp.Placeholder)} - set(PARAMETERS)
    if unknown:
        raise ModelError(f"model {model} uses unknown parameter(s) {sorted(unknown)}; use today() or as_of()")
    return trees[0]


@lru_cache(maxsize=256)
def _parse(model: str, text: str, filters: tuple[tuple[str, str, str, bool], ...]) -> exp.Query:
    """The model with its filters in front, once per filter set (shared: replace_placeholders copies it)."""
    tree = _parse_model(model, text).copy()
    ctes = {}
    for key, relation, block, filtered in filters:
        name = ("src__" if block == "source_rows" else "ref__") + key
        ctes[name] = statements(block, relation=relation, filtered=filtered)[0].copy()
        _read_through(tree, relation, name)
    return _prepend_ctes(tree, ctes)


def _read_through(tree: exp.Query, relation: str, cte: str) -> None:
    """Point every reference to `relation` at the CTE `cte`, keeping the name the model uses for it."""
    schema, name = relation.split(".")
    for table in list(tree.find_all(exp.Table)):
        if table.db == schema and table.name == name and not table.args.get("catalog"):
            alias = table.alias or name
            table.replace(exp.Table(this=exp.to_identifier(cte), alias=exp.TableAlias(this=exp.to_identifier(alias))))


def _prepend_ctes(tree: exp.Query, ctes: dict[str, exp.Query]) -> exp.Query:
    """Put CTEs ahead of the model's own WITH (if any), which may read them."""
    if not ctes:
        return tree
    ours = [exp.CTE(this=body, alias=exp.TableAlias(this=exp.to_identifier(name))) for name, body in ctes.items()]
    existing = tree.args.get("with_")
    if existing:
        existing.set("expressions", ours + list(existing.expressions))
    else:
        tree.set("with_", exp.With(expressions=ours))
    return tree
