"""The warehouse's named statements: every block reads, splits and writes in both dialects."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from pipelines.warehouse.statements import SqlError, SqlFiles, _BLOCKS, parse, read_blocks

# Enough context for every block's jinja; each value is what a real caller passes.
CONTEXT = {"table": "gmail_messages", "columns": ("id", "user_id"), "rows": 2, "column": "id", "mart": "tasks",
           "group": "thread_id", "live_only": True, "tables": ("asana_projects", "asana_tasks"),
           "schemas": ("marts", "staging"), "relation": "marts.tasks", "kind": "TABLE", "filtered": True,
           "values": ("open", "it's"), "to": "staging.stg_asana_projects", "field": "project_id"}


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
@pytest.mark.parametrize("name", sorted(_BLOCKS))
def test_every_statement_parses_and_writes_in_both_dialects(name, dialect):
    statements = SqlFiles(dialect).render(name, **CONTEXT)
    assert statements
    for statement in statements:  # what we wrote reads back as the same kind of statement
        assert not isinstance(sqlglot.parse_one(statement, read=dialect), exp.Command), statement


@pytest.mark.parametrize(("dialect", "expected"), [
    ("duckdb", "WHERE user_id = $user_id AND _deleted_at IS NULL AND id IN (SELECT UNNEST($ids))"),
    ("postgres", "WHERE user_id = %(user_id)s AND _deleted_at IS NULL AND id = ANY(%(ids)s)"),
])
def test_parameters_and_list_tests_are_written_in_each_drivers_style(dialect, expected):
    [statement] = SqlFiles(dialect).render("tombstone", table="asana_tasks", column="id")
    assert statement.endswith(expected)


def test_a_block_splits_into_statements_on_semicolons_outside_strings_and_comments(tmp_path):
    (tmp_path / "a.sql").write_text("-- name: two\n-- a comment; not a statement\n"
                                    "SELECT ';' AS x;\nSELECT 'a;\nb' AS y;  -- trailing; comment\n")
    blocks = read_blocks(tmp_path)
    trees = parse(blocks["two"], "two")
    assert [t.sql(comments=False) for t in trees] == ["SELECT ';' AS x", "SELECT 'a;\nb' AS y"]


def test_each_statement_is_bound_to_the_parameters_it_uses():
    bound = SqlFiles("postgres").bind("purge_service", {"user_id": "u_1", "service": "asana"},
                                      tables=("asana_projects", "asana_tasks"))
    assert [params for _, params in bound] == [{"user_id": "u_1"}, {"user_id": "u_1"},
                                              {"user_id": "u_1", "service": "asana"}]


def test_accepted_values_are_escaped_as_literals():
    [statement] = SqlFiles("postgres").render("test_accepted_values", relation="marts.tasks", column="status",
                                              values=("it's", "ok"), filtered=False)
    assert "IN ('it''s', 'ok')" in statement


def test_duplicate_names_are_refused(tmp_path):
    (tmp_path / "a.sql").write_text("-- name: x\nSELECT 1;")
    (tmp_path / "b.sql").write_text("-- name: x\nSELECT 2;")
    with pytest.raises(SqlError, match="two statements are named x"):
        read_blocks(tmp_path)


@pytest.mark.parametrize(("sql", "message"), [
    ("CREATE TEMP TABLE staged (LIKE raw.x) ON COMMIT DROP", "cannot read"),  # would keep :params untranslated
    ("SELECT (1", "broken: "),
])
def test_sql_the_parser_cannot_read_is_refused(sql, message):
    with pytest.raises(SqlError, match=message):
        parse(sql, "broken")


def test_an_unknown_statement_name_is_an_error():
    with pytest.raises(SqlError, match="no statement named nope"):
        SqlFiles("duckdb").render("nope")
