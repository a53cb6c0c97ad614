"""Runs the models on a warehouse, per user or for everyone, and their tests per user."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlglot import exp

from pipelines.models.compiler import compile_select
from pipelines.models.project import Model, ModelProject, seed_rows
from pipelines.models.properties import ModelTest
from pipelines.warehouse import Transaction, Warehouse
from pipelines.warehouse.statements import write


@dataclass
class ModelResult:
    name: str
    rows: int
    seconds: float
    full_rebuild: bool
    failures: dict[str, int] = field(default_factory=dict)  # failing test name -> failing rows
    rows_by_user: dict[str, int] = field(default_factory=dict)  # the run's users (everyone's after a full rebuild)
    failures_by_user: dict[str, dict[str, int]] = field(default_factory=dict)  # failing test -> user -> rows


class ModelRunner:
    """Runs models on a warehouse, per user or for everyone."""

    def __init__(self, warehouse: Warehouse, project: ModelProject | None = None):
        self.warehouse = warehouse
        self.project = project or ModelProject()
        self.sql = warehouse.sql

    def prepare(self) -> None:
        schemas = tuple(sorted({m.schema for m in self.project.order}))
        with self.warehouse.transaction() as tx:
            self.warehouse.take_ddl_turn(tx)
            for statement in self.sql.render("prepare_models", schemas=schemas):
                tx.execute(statement)

    def stale_models(self, builds: dict[str, tuple] | None = None) -> set[str]:
        """Models whose table is missing or whose definition changed, and all their dependants
        (`builds`: what `_builds` read, when the caller has it already)."""
        built = self._builds() if builds is None else builds
        changed = {m.name for m in self.project.order if built.get(m.name, (None,))[0] != m.digest}
        return self.project.downstream(changed)

    def run(self, user_ids: list[str] | None, as_of: datetime, only: set[str] | None = None) -> list[ModelResult]:
        """Build every model (or `only` those) for the users (None: everyone), in dependency order."""
        self.prepare()
        seen = self._builds()
        rebuild = self.stale_models(seen)
        return [self.run_model(model, user_ids, as_of, full=model.name in rebuild,
                               seen=seen.get(model.name, ()))
                for model in self.project.order if only is None or model.name in only]

    def run_model(self, model: Model, user_ids: list[str] | None, as_of: datetime, *, full: bool = False,
                  seen: tuple | None = None) -> ModelResult:
        """Build one model: a table for the users' slice (or everyone's), a view or seed when it changed.

        `seen` is the model's build (digest, built_at; `()` for none) when the run decided to rebuild it
        in full: if another process has rebuilt it as defined since, only this run's users' slice is left."""
        started = time.perf_counter()
        if not model.per_user and not full:
            return ModelResult(model.name, 0, 0.0, False)  # a view or seed is the same for everyone until it changes
        full = full or user_ids is None or not model.per_user
        with self.warehouse.transaction() as tx:
            if full:  # other runs may be (re)creating it right now: wait for them, then see what they did
                self.warehouse.take_ddl_turn(tx)
                now = self._builds(tx).get(model.name)
                if seen is not None and user_ids is not None and model.per_user and now and now != seen \
                        and now[0] == model.digest:
                    full = False
            if model.materialized == "seed":
                rows = self._load_seed(tx, model)
            else:
                rows = 0
                self._build(tx, model, user_ids, as_of, full=full)
            tx.execute(self.sql.render("record_model")[0],
                       {"name": model.name, "digest": model.digest, "built_at": datetime.now(timezone.utc)})
            if not model.per_user:
                return ModelResult(model.name, rows, time.perf_counter() - started, full)
            by_user, failing = self._outcomes(tx, model, user_ids, filtered=not full)
        return ModelResult(model.name, sum(by_user.values()), time.perf_counter() - started, full,
                           {name: sum(users.values()) for name, users in failing.items()}, by_user, failing)

    def _builds(self, tx: Transaction | None = None) -> dict[str, tuple]:
        """Each model's last build: name -> (digest, built_at)."""
        if tx is None:
            with self.warehouse.read() as tx:
                return self._builds(tx)
        return {name: (digest, built_at) for name, digest, built_at in tx.execute(self.sql.render("model_builds")[0])}

    def _outcomes(self, tx: Transaction, model: Model, user_ids: list[str] | None, *,
                  filtered: bool) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """Rows per user (0 for a run's user without any) and failing rows per failing test and user."""
        by_user = dict.fromkeys(user_ids or (), 0) | self._per_user(tx, "rows_by_user", model, filtered=filtered)
        failing = {test.name: self._test(tx, test, filtered=filtered) for test in model.tests}
        return by_user, {name: users for name, users in failing.items() if users}

    def _build(self, tx: Transaction, model: Model, user_ids: list[str] | None, as_of: datetime, *, full: bool) -> None:
        """Replace the model's relation (full) or the run's users' rows in it."""
        select = compile_select(self.project, model, as_of, filtered=not full)
        if not full:
            for statement, params in self.sql.bind("run_users", {"user_ids": list(user_ids)}):
                tx.execute(statement, params)
        kind = "TABLE" if model.per_user else "VIEW"
        prepare = "drop_relation" if full else "delete_slice"
        for statement in self.sql.render(prepare, kind=kind, relation=model.relation):
            tx.execute(statement)
        tx.execute(write(_materialize(model, select, full=full), self.warehouse.dialect, copy=False))

    def _load_seed(self, tx: Transaction, model: Model) -> int:
        """(Re)load a seed's CSV into its table; return how many rows it holds."""
        columns, rows = seed_rows(model)
        for statement in self.sql.render("drop_relation", kind="TABLE", relation=model.relation):
            tx.execute(statement)
        tx.execute(self.sql.render("create_seed", relation=model.relation, columns=tuple(columns))[0])
        if rows:  # sqlglot writes the values as escaped literals
            tx.execute(write(exp.insert(exp.values(rows), model.relation, columns=columns),
                             self.warehouse.dialect))
        return len(rows)

    def _per_user(self, tx: Transaction, block: str, model: Model, **context) -> dict[str, int]:
        """Run a GROUP BY user_id count on the model; user -> count (users with none are absent)."""
        return {user: int(count) for user, count in tx.execute(
            self.sql.render(block, relation=model.relation, **context)[0])}

    def _test(self, tx: Transaction, test: ModelTest, *, filtered: bool) -> dict[str, int]:
        """Failing rows of one generic test, per user."""
        to = self.project.models[test.to].relation if test.to else ""
        return self._per_user(tx, f"test_{test.kind}", self.project.models[test.model], column=test.column,
                              values=test.values, to=to, field=test.field, filtered=filtered)


def _materialize(model: Model, select: exp.Query, *, full: bool) -> exp.Expression:
    """CREATE VIEW for a view; CREATE TABLE (full) or INSERT (a slice) for a table. Takes `select` over."""
    target = exp.to_table(model.relation)
    if not model.per_user:
        return exp.Create(this=target, kind="VIEW", expression=select)
    rows = exp.select(exp.Star()).from_(select.subquery("model", copy=False), copy=False)
    return exp.Create(this=target, kind="TABLE", expression=rows) if full else exp.insert(rows, target, copy=False)
