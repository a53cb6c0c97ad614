"""The dbt-like runner: dependencies, per-user slices, rebuilds on change, and model tests."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipelines.sync.snapshot import populate
from pipelines.models import MODELS_DIR, ModelError, ModelProject, ModelRunner
from sandbox.changes import apply_batch
from sandbox.world import World

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def world() -> World:
    return World(4, NOW, 1.0)


@pytest.fixture
def filled(warehouse, world):
    user_ids = world.initial_user_ids(3)
    populate(warehouse, world, user_ids, NOW)
    return warehouse, user_ids


def rows(warehouse, relation: str, user_id: str) -> list[tuple]:
    return sorted(warehouse.query(f"SELECT * FROM {relation} WHERE user_id = {warehouse.param('u')}", {"u": user_id}),
                  key=repr)


def test_models_are_ordered_by_their_refs():
    project = ModelProject()
    position = {m.name: i for i, m in enumerate(project.order)}
    for model in project.order:
        assert all(position[ref] < position[model.name] for ref in model.refs), model.name
    assert {"projects", "communications", "tasks", "financials", "invoices"} <= set(project.models)
    assert project.models["projects"].schema == "marts" and project.models["stg_asana_tasks"].schema == "staging"
    assert ("xero", "invoices") in project.models["stg_xero_invoices"].sources


def test_every_model_builds_and_passes_its_tests(filled):
    warehouse, user_ids = filled
    results = ModelRunner(warehouse).run(user_ids, NOW)
    assert [r.name for r in results] == [m.name for m in ModelProject().order]
    assert {r.name: r.failures for r in results if r.failures} == {}
    assert next(r for r in results if r.name == "tasks").rows > 0


def test_a_run_for_some_users_leaves_the_others_untouched(filled, world):
    warehouse, (alice, bob, carol) = filled
    runner = ModelRunner(warehouse)
    runner.run([alice, bob, carol], NOW)
    before = {u: rows(warehouse, "marts.tasks", u) for u in (bob, carol)}
    apply_batch(world, count=15, users=[alice, bob], weights={"asana.add_task": 1, "asana.complete_task": 1})
    populate(warehouse, world, [alice, bob], NOW)
    results = runner.run([alice], NOW)
    assert not any(r.full_rebuild for r in results)
    assert rows(warehouse, "marts.tasks", bob) == before[bob]  # bob's raw data changed, but he was not in the run
    assert rows(warehouse, "marts.tasks", carol) == before[carol]
    expected = {t.gid for t in world.user(alice).workspace.tasks.values()}
    assert {r[1] for r in rows(warehouse, "marts.tasks", alice)} == expected


def test_a_changed_model_is_rebuilt_for_everyone_with_its_dependants(filled, tmp_path):
    warehouse, user_ids = filled
    shutil.copytree(MODELS_DIR, tmp_path / "models")
    ModelRunner(warehouse, ModelProject(tmp_path / "models")).run(user_ids, NOW)
    path = tmp_path / "models" / "staging" / "stg_asana_tasks.sql"
    path.write_text(path.read_text().replace("    permalink_url\n", "    permalink_url,\n    'v2' AS version\n"))
    results = {r.name: r for r in ModelRunner(warehouse, ModelProject(tmp_path / "models")).run(user_ids[:1], NOW)}
    assert results["stg_asana_tasks"].full_rebuild and results["tasks"].full_rebuild
    assert not results["stg_gmail_messages"].full_rebuild
    versions = warehouse.query("SELECT DISTINCT version FROM staging.stg_asana_tasks")
    assert versions == [("v2",)]  # every user's slice, not just the run's


def test_failing_model_tests_are_reported(filled, tmp_path):
    warehouse, user_ids = filled
    shutil.copytree(MODELS_DIR, tmp_path / "models")
    schema = tmp_path / "models" / "marts" / "schema.yml"
    schema.write_text(schema.read_text().replace("[overdue, due_soon, open, recently_completed, done]",
                                                 "[overdue, open]"))
    results = {r.name: r for r in ModelRunner(warehouse, ModelProject(tmp_path / "models")).run(user_ids, NOW)}
    assert results["tasks"].failures.get("accepted_values_status", 0) > 0


@pytest.mark.parametrize("change,message", [
    (("staging/stg_bad.sql", "SELECT * FROM {{ ref('nope') }}"), "unknown model"),
    (("staging/stg_bad.sql", "SELECT * FROM {{ source('fax', 'pages') }}"), "unknown source"),
    (("staging/stg_bad.sql", "{{ config(materialized='incremental') }} SELECT 1"), "materialized"),
    (("staging/stg_loop_a.sql", "SELECT * FROM {{ ref('stg_loop_b') }}"), "cycle"),
])
def test_bad_models_are_refused_with_their_name(tmp_path, change, message):
    shutil.copytree(MODELS_DIR, tmp_path / "models")
    name, text = change
    (tmp_path / "models" / name).write_text(text)
    if "loop" in name:
        (tmp_path / "models" / "staging" / "stg_loop_b.sql").write_text("SELECT * FROM {{ ref('stg_loop_a') }}")
    with pytest.raises(ModelError, match=message):
        ModelProject(tmp_path / "models")
    assert Path(tmp_path / "models" / name).exists()


def test_model_tests_report_failing_rows_per_user(filled, tmp_path):
    warehouse, (alice, bob, carol) = filled
    shutil.copytree(MODELS_DIR, tmp_path / "models")
    schema = tmp_path / "models" / "marts" / "schema.yml"
    schema.write_text(schema.read_text().replace("[overdue, due_soon, open, recently_completed, done]",
                                                 "[overdue, open]"))
    runner = ModelRunner(warehouse, ModelProject(tmp_path / "models"))
    runner.run(None, NOW)
    results = {r.name: r for r in runner.run([alice, bob, "u_without_data"], NOW)}
    tasks = results["tasks"]
    expected = {u: n for u, n in warehouse.query(
        "SELECT user_id, count(*) FROM marts.tasks WHERE status NOT IN ('overdue', 'open') GROUP BY user_id")
        if u in (alice, bob)}
    assert expected and tasks.failures_by_user == {"accepted_values_status": expected}
    assert tasks.failures == {"accepted_values_status": sum(expected.values())}
    counts = dict(warehouse.query("SELECT user_id, count(*) FROM marts.tasks GROUP BY user_id"))
    assert tasks.rows_by_user == {alice: counts[alice], bob: counts[bob], "u_without_data": 0}
    assert tasks.rows == counts[alice] + counts[bob]
    assert results["projects"].failures_by_user == {} and results["projects"].failures == {}


def test_a_full_rebuild_counts_every_users_rows(filled):
    warehouse, user_ids = filled
    results = {r.name: r for r in ModelRunner(warehouse).run(user_ids[:1], NOW)}  # new models: rebuilt for all
    counts = dict(warehouse.query("SELECT user_id, count(*) FROM marts.tasks GROUP BY user_id"))
    assert results["tasks"].full_rebuild and results["tasks"].rows_by_user == counts and len(counts) == 3


def test_seeds_are_loaded_and_read_with_ref(filled):
    warehouse, user_ids = filled
    results = {r.name: r for r in ModelRunner(warehouse).run(user_ids, NOW)}
    words = (MODELS_DIR / "seeds" / "generic_words.csv").read_text().split()[1:]
    assert results["generic_words"].rows == len(words) > 10
    assert sorted(w for (w,) in warehouse.query("SELECT word FROM seeds.generic_words")) == sorted(words)
    used = {w for (w,) in warehouse.query("SELECT DISTINCT word FROM intermediate.int_name_words")}
    assert used and not used & set(words)
    again = {r.name: r for r in ModelRunner(warehouse).run(user_ids[:1], NOW)}
    assert not again["generic_words"].full_rebuild  # loaded once, until the CSV changes


def test_a_changed_seed_is_reloaded_and_its_dependants_rebuilt(filled, tmp_path):
    warehouse, user_ids = filled
    shutil.copytree(MODELS_DIR, tmp_path / "models")
    ModelRunner(warehouse, ModelProject(tmp_path / "models")).run(user_ids, NOW)
    common = warehouse.query("SELECT word, count(*) FROM intermediate.int_name_words GROUP BY word "
                             "ORDER BY count(*) DESC, word LIMIT 1")[0][0]
    seed = tmp_path / "models" / "seeds" / "generic_words.csv"
    seed.write_text(seed.read_text() + common + "\n")
    results = {r.name: r for r in ModelRunner(warehouse, ModelProject(tmp_path / "models")).run(user_ids[:1], NOW)}
    assert results["generic_words"].full_rebuild and results["int_name_words"].full_rebuild
    assert results["projects"].full_rebuild and not results["stg_asana_tasks"].full_rebuild
    assert warehouse.query(f"SELECT count(*) FROM intermediate.int_name_words WHERE word = '{common}'") == [(0,)]


def test_models_and_seeds_carry_their_yaml_descriptions():
    project = ModelProject()
    assert project.models["tasks"].description.startswith("Every live task")
    assert "overdue" in project.models["tasks"].columns["status"]
    assert project.models["generic_words"].materialized == "seed" and project.models["generic_words"].description
    assert project.source_tables[("gmail", "messages")] == "raw.gmail_messages"
    tests = {t.name: t for t in project.models["stg_asana_tasks"].tests}
    assert tests["relationships_project_id"].to == "stg_asana_projects"
    assert tests["relationships_project_id"].field == "project_id"


@pytest.mark.parametrize("change,message", [
    (("staging/schema.yml", "version: 2", "version: 1"), "version: 2"),
    (("staging/schema.yml", "tests: [unique, not_null]", "tests: [unique, is_even]"), "unknown test 'is_even'"),
    (("staging/schema.yml", "to: ref('stg_asana_projects')", "to: ref('stg_nope')"), "unknown model stg_nope"),
    (("staging/schema.yml", "to: ref('stg_asana_projects')", "to: stg_asana_projects"), "to: ref"),
    (("staging/schema.yml", "- name: stg_asana_projects", "- name: stg_asana_projectz"), "unknown model stg_asana_projectz"),
    (("seeds/schema.yml", "description: A lower-case word.", "tests: [unique]"), "only table models"),
])
def test_bad_properties_are_refused_with_their_name(tmp_path, change, message):
    shutil.copytree(MODELS_DIR, tmp_path / "models")
    name, old, new = change
    path = tmp_path / "models" / name
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(ModelError, match=message):
        ModelProject(tmp_path / "models")


@pytest.mark.parametrize("csv", ["word,extra\nthe\n", "1word\nthe\n", ""])
def test_a_malformed_seed_is_refused_with_its_name(tmp_path, csv):
    shutil.copytree(MODELS_DIR, tmp_path / "models")
    (tmp_path / "models" / "seeds" / "generic_words.csv").write_text(csv)
    with pytest.raises(ModelError, match="seed generic_words"):
        ModelProject(tmp_path / "models")


@pytest.mark.postgres
def test_runs_building_models_at_once_on_postgres_take_turns(postgres_database, tmp_path, world):
    """Scheduled batches are separate processes: their first builds of the same model tables overlap.
    Postgres's CREATE TABLE is not safe against a concurrent CREATE of the same name (pg_type's unique
    index), so both must still succeed, with every user's rows in the marts."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from pipelines.warehouse import open_warehouse

    user_ids = world.initial_user_ids(4)
    first = open_warehouse(postgres_database, tmp_path)
    first.ensure_schema()
    populate(first, world, user_ids, NOW)
    warehouses = [first, open_warehouse(postgres_database, tmp_path)]
    start = Barrier(2)

    def build(warehouse, users):
        start.wait(timeout=30)
        return ModelRunner(warehouse).run(users, NOW)

    try:
        with ThreadPoolExecutor(2) as pool:
            runs = [pool.submit(build, w, users) for w, users in zip(warehouses, (user_ids[:2], user_ids[2:]))]
            results = [run.result(timeout=300) for run in runs]
    finally:
        for warehouse in warehouses:
            warehouse.close()
    assert all(not r.failures for result in results for r in result)
    check = open_warehouse(postgres_database, tmp_path)
    try:
        assert all(rows(check, "marts.tasks", user) for user in user_ids)
    finally:
        check.close()


def test_the_build_order_is_the_same_in_every_process():
    """Scheduled batches run in processes of their own; an order that followed Python's per-process
    string hashing changed the documents' recorded inputs from one run to the next, so every pass
    rebuilt the documents of about half the users for nothing."""
    import os
    import subprocess
    import sys

    script = "from pipelines.models import ModelProject; print(' '.join(m.name for m in ModelProject().order))"
    orders = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in range(6)}
    assert len(orders) == 1 and orders.pop().split() == [m.name for m in ModelProject().order]
