"""The dbt-like runner: SQL models in `dbt_like_models/`, ordered by their `ref()`s, run per user.

A model is a jinja-templated SELECT. `{{ source('gmail', 'messages') }}` reads a raw table (live
rows), `{{ ref('stg_x') }}` another model, `{{ config(materialized='table'|'view') }}` says how
to keep it. Table models hold a `user_id` column: a run for some users renders every source and
ref filtered to those users and replaces only their slice, so other users' rows are untouched.
A model whose definition changed (or is new) is rebuilt for everyone, and so is everything
downstream of it. Tests declared in `schema.yml` next to the models run per user slice.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from graphlib import TopologicalSorter
from pathlib import Path

import yaml
from jinja2 import Environment, StrictUndefined

from pipelines.warehouse import Warehouse

MODELS_DIR = Path(__file__).resolve().parents[1] / "dbt_like_models"
MATERIALIZATIONS = ("table", "view")


class ModelError(Exception):
    """A model that cannot be parsed, ordered or run; the message names the model."""


@dataclass(frozen=True)
class ModelTest:
    model: str
    column: str
    kind: str  # unique | not_null | accepted_values | relationships
    values: tuple[str, ...] = ()
    to: str = ""
    field: str = ""

    @property
    def name(self) -> str:
        return f"{self.kind}_{self.column}"


@dataclass(frozen=True)
class Model:
    name: str
    schema: str
    path: Path
    template: str
    materialized: str
    refs: tuple[str, ...]
    sources: tuple[tuple[str, str], ...]
    tests: tuple[ModelTest, ...] = ()

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def per_user(self) -> bool:
        return self.materialized == "table"

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.materialized}\n{self.template}".encode()).hexdigest()[:16]


@dataclass
class ModelResult:
    name: str
    rows: int
    seconds: float
    full_rebuild: bool
    failures: dict[str, int] = field(default_factory=dict)  # test name -> failing rows
    rows_by_user: dict[str, int] = field(default_factory=dict)
    failures_by_user: dict[str, dict[str, int]] = field(default_factory=dict)  # test -> user -> failing rows
    per_user: bool = True


class _Recorder:
    """Renders a template once to learn what it refers to."""

    def __init__(self) -> None:
        self.refs: list[str] = []
        self.sources: list[tuple[str, str]] = []
        self.materialized = "table"

    def ref(self, name: str) -> str:
        self.refs.append(name)
        return name

    def source(self, service: str, name: str) -> str:
        self.sources.append((service, name))
        return f"{service}_{name}"

    def config(self, materialized: str = "table", **_: object) -> str:
        self.materialized = materialized
        return ""


class ModelProject:
    """The models folder: discovery, dependencies, order and rendering."""

    def __init__(self, root: Path = MODELS_DIR):
        self.root = root
        self.env = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self.source_tables: dict[tuple[str, str], str] = {
            (service, name): table
            for service, tables in yaml.safe_load((root / "sources.yml").read_text()).items()
            for name, table in tables.items()}
        self.models = self._discover()
        self.order = self._order()

    def _discover(self) -> dict[str, Model]:
        models: dict[str, Model] = {}
        for path in sorted(self.root.glob("*/*.sql")):
            recorder = _Recorder()
            template = path.read_text()
            try:
                self.env.from_string(template).render(ref=recorder.ref, source=recorder.source, config=recorder.config,
                                                      today=lambda: "", as_of=lambda: "")
            except Exception as exc:
                raise ModelError(f"model {path.stem} ({path}) does not render: {exc}") from exc
            if recorder.materialized not in MATERIALIZATIONS:
                raise ModelError(f"model {path.stem}: materialized must be one of {MATERIALIZATIONS}")
            unknown = [s for s in recorder.sources if s not in self.source_tables]
            if unknown:
                raise ModelError(f"model {path.stem} reads unknown source(s) {unknown}; see sources.yml")
            if path.stem in models:
                raise ModelError(f"two models are named {path.stem}")
            models[path.stem] = Model(path.stem, path.parent.name, path, template, recorder.materialized,
                                      tuple(dict.fromkeys(recorder.refs)), tuple(dict.fromkeys(recorder.sources)))
        for name, model in models.items():
            missing = [r for r in model.refs if r not in models]
            if missing:
                raise ModelError(f"model {name} refers to unknown model(s) {missing}")
        return self._attach_tests(models)

    def _attach_tests(self, models: dict[str, Model]) -> dict[str, Model]:
        tests: dict[str, list[ModelTest]] = {}
        for path in sorted(self.root.glob("*/schema.yml")):
            for model, columns in (yaml.safe_load(path.read_text()) or {}).items():
                if model not in models:
                    raise ModelError(f"{path} declares tests for unknown model {model}")
                for column, declared in columns.items():
                    tests.setdefault(model, []).extend(_parse_test(model, column, item, models) for item in declared)
        return {name: Model(**{**m.__dict__, "tests": tuple(tests.get(name, ()))}) for name, m in models.items()}

    def _order(self) -> list[Model]:
        """Dependency order; a relationships test also needs the model it points at built first."""
        graph = {name: set(model.refs) | {t.to for t in model.tests if t.to} for name, model in self.models.items()}
        try:
            return [self.models[name] for name in TopologicalSorter(graph).static_order()]
        except Exception as exc:  # graphlib.CycleError
            raise ModelError(f"models refer to each other in a cycle: {exc}") from exc

    def downstream(self, names: set[str]) -> set[str]:
        """The named models and everything that depends on them."""
        found = set(names)
        for model in self.order:
            if set(model.refs) & found:
                found.add(model.name)
        return found

    def render(self, model: Model, dialect: str, as_of: datetime, *, filtered: bool) -> str:
        """The model's SELECT for one dialect; `filtered` restricts sources and refs to run_users.

        A ref or source renders as the name of a CTE the runner puts in front of the model's own
        (so models alias them like tables, on Postgres too); an unfiltered ref to a table is just
        the table.
        """
        users = " AND user_id IN (SELECT user_id FROM run_users)" if filtered else ""
        ctes: dict[str, str] = {}

        def ref(name: str) -> str:
            target = self.models[name]
            if not target.per_user or not filtered:
                return target.relation
            ctes[f"ref__{name}"] = f"SELECT * FROM {target.relation} WHERE true{users}"
            return f"ref__{name}"

        def source(service: str, name: str) -> str:
            ctes[f"src__{service}__{name}"] = (f"SELECT * FROM {self.source_tables[(service, name)]} "
                                               f"WHERE _deleted_at IS NULL{users}")
            return f"src__{service}__{name}"

        moment = as_of.astimezone(timezone.utc)
        body = self.env.from_string(model.template).render(
            ref=ref, source=source, config=lambda **_: "",
            today=lambda: f"CAST('{moment.date().isoformat()}' AS DATE)",
            as_of=lambda: f"CAST('{moment.isoformat()}' AS TIMESTAMPTZ)")
        return _with(ctes, body) + "\n"


def _with(ctes: dict[str, str], body: str) -> str:
    """Put CTEs in front of a SELECT, merging with its own WITH if it has one."""
    if not ctes:
        return body
    ours = ",\n".join(f"{name} AS ({sql})" for name, sql in ctes.items())
    lines = body.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() and not line.strip().startswith("--")), 0)
    first = lines[start].lstrip()
    if first[:5].upper() == "WITH " or first.upper() == "WITH":
        rest = first[4:].lstrip()
        recursive = rest[:10].upper() == "RECURSIVE "
        head = "WITH RECURSIVE " if recursive else "WITH "
        lines[start] = head + ours + ",\n" + (rest[10:] if recursive else rest)
        return "\n".join(lines)
    return f"WITH {ours}\n{body}"


def _parse_test(model: str, column: str, item: object, models: dict[str, Model]) -> ModelTest:
    if item in ("unique", "not_null"):
        return ModelTest(model, column, item)
    if isinstance(item, dict) and "accepted_values" in item:
        return ModelTest(model, column, "accepted_values", values=tuple(str(v) for v in item["accepted_values"]))
    if isinstance(item, dict) and "relationships" in item:
        spec = item["relationships"]
        if spec.get("to") not in models:
            raise ModelError(f"{model}.{column}: relationships test points at unknown model {spec.get('to')}")
        return ModelTest(model, column, "relationships", to=spec["to"], field=spec.get("field", column))
    raise ModelError(f"{model}.{column}: unknown test {item!r}")


class ModelRunner:
    """Runs models on a warehouse, per user or for everyone."""

    def __init__(self, warehouse: Warehouse, project: ModelProject | None = None):
        self.warehouse = warehouse
        self.project = project or ModelProject()
        self.sql = warehouse.sql

    def prepare(self) -> None:
        with self.warehouse.transaction() as tx:
            for statement in self.sql.render("models_prepare.sql", schemas=tuple(sorted({m.schema for m in self.project.order}))):
                tx.execute(statement)

    def stale_models(self) -> set[str]:
        """Models whose table is missing or whose definition changed, and all their dependants."""
        with self.warehouse.read() as tx:
            built = dict(tx.execute(self.sql.render("models_state.sql")[0]))
        changed = {m.name for m in self.project.order if built.get(m.name) != m.digest}
        return self.project.downstream(changed)

    def run(self, user_ids: list[str] | None, as_of: datetime, only: set[str] | None = None) -> list[ModelResult]:
        """Build every model (or `only` those) for the users (None: everyone), in dependency order."""
        self.prepare()
        rebuild = self.stale_models()
        return [self.run_model(model, user_ids, as_of, full=model.name in rebuild)
                for model in self.project.order if only is None or model.name in only]

    def run_model(self, model: Model, user_ids: list[str] | None, as_of: datetime, *, full: bool = False) -> ModelResult:
        started = time.perf_counter()
        if not model.per_user and not full:
            return ModelResult(model.name, 0, 0.0, False, per_user=False)  # a view is the same for everyone until it changes
        full = full or user_ids is None or not model.per_user
        select = self.project.render(model, self.warehouse.dialect, as_of, filtered=not full)
        with self.warehouse.transaction() as tx:
            if not full:
                for statement in self.sql.render("models_run_users.sql"):
                    tx.execute(statement, {"user_ids": list(user_ids)})
            file = "models_build_view.sql" if not model.per_user else (
                "models_rebuild_table.sql" if full else "models_replace_slice.sql")
            for statement in self.sql.render(file, relation=model.relation, select=select):
                tx.execute(statement)
            tx.execute(self.sql.render("models_record.sql")[0],
                       {"name": model.name, "digest": model.digest, "built_at": datetime.now(timezone.utc)})
            rows = 0
            if model.per_user:
                (rows,), = tx.execute(self.sql.render("models_count.sql", relation=model.relation,
                                                      filtered=not full)[0])
            failures = {test.name: self._test(tx, test, filtered=not full) for test in model.tests}
        failing = {name: count for name, count in failures.items() if count}
        only = user_ids[0] if user_ids and len(user_ids) == 1 else None  # TODO(h/sql): per-user GROUP BY
        return ModelResult(model.name, rows, time.perf_counter() - started, full, failing,
                           {only: rows} if only else {}, {n: {only: c} for n, c in failing.items()} if only else {},
                           model.per_user)

    def _test(self, tx, test: ModelTest, *, filtered: bool) -> int:
        relation = self.project.models[test.model].relation
        to = self.project.models[test.to].relation if test.to else ""
        (failing,), = tx.execute(self.sql.render(f"model_test_{test.kind}.sql", relation=relation, column=test.column,
                                                 values=test.values, to=to, field=test.field, filtered=filtered)[0])
        return int(failing)
