"""The parser-based rendering of a model: filters put in front on the tree, run on both backends."""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from pipelines.models import ModelError, ModelProject, ModelRunner, compile_sql
from pipelines.warehouse import Batch

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
SOURCES = """
version: 2
sources:
  - name: asana
    schema: raw
    tables:
      - name: projects
        identifier: asana_projects
"""


def project(root: Path, models: dict[str, str]) -> ModelProject:
    """A models folder with the given files (path -> text) and one source, asana.projects."""
    (root / "sources.yml").write_text(SOURCES)
    for name, text in models.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return ModelProject(root)


BASE = {"staging/stg_projects.sql": "SELECT user_id, id AS project_id, name FROM {{ source('asana', 'projects') }}"}


def test_a_source_reads_live_rows_and_a_filtered_run_only_its_users(tmp_path):
    models = project(tmp_path, BASE)
    model = models.models["stg_projects"]
    everyone = sqlglot.parse_one(compile_sql(models, model, "postgres", NOW, filtered=False), read="postgres")
    [cte] = everyone.args["with_"].expressions
    assert cte.alias == "src__asana__projects" and cte.this.sql() == (
        "SELECT * FROM raw.asana_projects WHERE _deleted_at IS NULL")
    some = compile_sql(models, model, "postgres", NOW, filtered=True)
    assert "_deleted_at IS NULL AND user_id IN (SELECT user_id FROM run_users)" in some
    assert some.endswith("FROM src__asana__projects AS asana_projects")  # read under the table's own name


TRICKY = {
    **BASE,
    # A comment line that says WITH, a RECURSIVE CTE of its own, an unaliased ref read by its
    # name, the same ref in a subquery, and a string that looks like a table: what line editing
    # got wrong and the parser does not.
    "marts/words.sql": """\
        -- WITH the projects, count letters
        WITH RECURSIVE letters(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM letters WHERE n < 3)
        SELECT stg_projects.user_id, stg_projects.project_id, 'FROM staging.stg_projects;' AS note,
               (SELECT count(*) FROM {{ ref('stg_projects') }} AS p WHERE p.user_id = stg_projects.user_id) AS projects,
               (SELECT max(n) FROM letters) AS letters,
               {{ today() }} AS today
        FROM {{ ref('stg_projects') }}
    """,
}


def test_filters_go_in_front_of_the_models_own_ctes_on_the_tree(tmp_path):
    models = project(tmp_path, TRICKY)
    sql = compile_sql(models, models.models["words"], "duckdb", NOW, filtered=True)
    tree = sqlglot.parse_one(sql, read="duckdb")
    with_ = tree.args["with_"]
    assert with_.args.get("recursive") and [c.alias for c in with_.expressions] == ["ref__stg_projects", "letters"]
    assert {t.sql() for t in tree.find_all(exp.Table) if t.name.startswith("ref__")} == {
        "ref__stg_projects AS p", "ref__stg_projects AS stg_projects"}
    assert "'FROM staging.stg_projects;' AS note" in sql and "CAST('2026-11-25' AS DATE) AS today" in sql


def test_an_unfiltered_ref_reads_the_table_itself(tmp_path):
    models = project(tmp_path, TRICKY)
    sql = compile_sql(models, models.models["words"], "postgres", NOW, filtered=False)
    assert "FROM staging.stg_projects" in sql and "ref__" not in sql


def rows(user_id: str, *names: str) -> list[dict]:
    return [{"user_id": user_id, "id": f"{user_id}-{i}", "workspace_id": "w", "name": name, "archived": False,
             "notes": None, "owner_name": None, "start_on": None, "due_on": None, "created_at": None,
             "modified_at": None, "permalink_url": None, "_hash": name, "_synced_at": NOW, "_deleted_at": None}
            for i, name in enumerate(names)]


def test_the_compiled_models_run_per_user_on_both_backends(warehouse, tmp_path):
    warehouse.apply_many([("u_a", Batch(rows={"asana_projects": rows("u_a", "one", "two")}), NOW),
                          ("u_b", Batch(rows={"asana_projects": rows("u_b", "three")}), NOW)])
    runner = ModelRunner(warehouse, project(tmp_path, TRICKY))
    runner.run(None, NOW)
    warehouse.apply_many([("u_a", Batch(rows={"asana_projects": rows("u_a", "one", "two", "four")}), NOW),
                          ("u_b", Batch(rows={"asana_projects": rows("u_b", "three", "five")}), NOW)])
    results = {r.name: r for r in runner.run(["u_a"], NOW)}
    assert results["words"].rows_by_user == {"u_a": 3} and not results["words"].full_rebuild
    got = sorted(warehouse.query("SELECT user_id, projects, letters FROM marts.words"))
    assert got == [("u_a", 3, 3)] * 3 + [("u_b", 1, 3)]  # u_b's new project waits for u_b's run


@pytest.mark.parametrize(("text", "message"), [
    ("SELECT 1; SELECT 2", "one SELECT"),
    ("DELETE FROM raw.asana_projects", "one SELECT"),
    ("SELECT * FROM raw.asana_projects WHERE name = :name", r"unknown parameter\(s\) \['name'\]"),
    ("SELECT FROM (", "model bad"),
])
def test_a_model_that_is_not_one_select_is_refused_with_its_name(tmp_path, text, message):
    models = project(tmp_path, {**BASE, "staging/bad.sql": text})
    with pytest.raises(ModelError, match=message):
        compile_sql(models, models.models["bad"], "duckdb", NOW, filtered=False)
