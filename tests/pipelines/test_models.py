"""The dbt-like runner: dependencies, per-user slices, rebuilds on change, and model tests."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bench.populate import populate
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
