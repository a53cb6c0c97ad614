"""The models folder as dbt lays it out: SQL models in sub-folders, seeds in `seeds/`, sources in
`sources.yml`, descriptions and tests in each folder's `schema.yml`; the order they build in."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field, replace
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from pipelines.models.properties import (IDENTIFIER, ModelError, ModelTest, Properties, read_properties,
                                         read_sources)
from pipelines.models.templates import MATERIALIZATIONS, references

MODELS_DIR = Path(__file__).resolve().parents[2] / "dbt_like_models"
SEEDS = "seeds"


@dataclass(frozen=True)
class Model:
    name: str
    schema: str
    path: Path
    template: str  # the jinja SQL of a model, the CSV text of a seed
    materialized: str  # table | view | seed
    refs: tuple[str, ...]
    sources: tuple[tuple[str, str], ...]
    tests: tuple[ModelTest, ...] = ()
    description: str = ""
    columns: dict[str, str] = field(default_factory=dict, compare=False)  # column -> description (schema.yml)

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def per_user(self) -> bool:
        """Table models hold a user_id column and are built per user slice."""
        return self.materialized == "table"

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.materialized}\n{self.template}".encode()).hexdigest()[:16]


class ModelProject:
    """The models folder: discovery, dependencies and order."""

    def __init__(self, root: Path = MODELS_DIR):
        self.root = root
        self.source_tables = read_sources(root / "sources.yml")
        found = {**self._seeds(), **self._models()}
        _check_refs(found)
        self.models = self._describe(found)
        self.order = self._order()

    def _models(self) -> dict[str, Model]:
        models: dict[str, Model] = {}
        for path in sorted(self.root.glob("*/*.sql")):
            template = path.read_text()
            materialized, refs, sources = references(path.stem, template)
            unknown = [s for s in sources if s not in self.source_tables]
            if unknown:
                raise ModelError(f"model {path.stem} reads unknown source(s) {unknown}; see sources.yml")
            if materialized not in MATERIALIZATIONS:
                raise ModelError(f"model {path.stem}: materialized must be one of {MATERIALIZATIONS}")
            if path.stem in models:
                raise ModelError(f"two models are named {path.stem}")
            models[path.stem] = Model(path.stem, path.parent.name, path, template, materialized, refs, sources)
        return models

    def _seeds(self) -> dict[str, Model]:
        """CSV files in seeds/, loaded by the runner and read with ref() like models (as dbt seeds)."""
        seeds = {path.stem: Model(path.stem, SEEDS, path, path.read_text(), "seed", (), ())
                 for path in sorted((self.root / SEEDS).glob("*.csv"))}
        for seed in seeds.values():
            seed_rows(seed)
        return seeds

    def _describe(self, models: dict[str, Model]) -> dict[str, Model]:
        """Attach each schema.yml's description, column docs and tests to its model or seed."""
        paths = sorted(self.root.glob("*/schema.yml"))
        described = read_properties(paths)
        for name, properties in described.items():
            _check_properties(name, properties, models)
        return {name: replace(model, description=described.get(name, Properties()).description,
                              columns=described.get(name, Properties()).columns,
                              tests=described.get(name, Properties()).tests)
                for name, model in models.items()}

    def _order(self) -> list[Model]:
        """Dependency order; a relationships test also needs the model it points at built first."""
        # Sorted, so the order is the same in every process: sets iterate in an order that changes with
        # Python's per-process string hashing, and the order is part of what a run records.
        graph = {name: sorted(set(self.models[name].refs) | {t.to for t in self.models[name].tests if t.to})
                 for name in sorted(self.models)}
        try:
            return [self.models[name] for name in TopologicalSorter(graph).static_order()]
        except CycleError as exc:
            raise ModelError(f"models refer to each other in a cycle: {exc.args[1]}") from exc

    def downstream(self, names: set[str]) -> set[str]:
        """The named models and everything that depends on them."""
        found = set(names)
        for model in self.order:
            if set(model.refs) & found:
                found.add(model.name)
        return found


def seed_rows(seed: Model) -> tuple[list[str], list[tuple[str, ...]]]:
    """A seed's columns (its CSV header) and rows; every value is text."""
    columns, *rows = list(csv.reader(io.StringIO(seed.template))) or [[]]
    if not columns or not all(IDENTIFIER.match(c) for c in columns) or any(len(r) != len(columns) for r in rows):
        raise ModelError(f"seed {seed.name} ({seed.path}): a header of plain column names, "
                         f"then rows of as many values")
    return columns, [tuple(row) for row in rows]


def _check_refs(models: dict[str, Model]) -> None:
    for name, model in models.items():
        missing = [r for r in model.refs if r not in models]
        if missing:
            raise ModelError(f"model {name} refers to unknown model(s) {missing}")


def _check_properties(name: str, properties: Properties, models: dict[str, Model]) -> None:
    if name not in models:
        raise ModelError(f"schema.yml describes unknown model {name}")
    if properties.tests and not models[name].per_user:
        raise ModelError(f"{name}: tests run per user slice, so only table models can have them")
    for test in properties.tests:
        if test.to and test.to not in models:
            raise ModelError(f"{name}.{test.column}: relationships test points at unknown model {test.to}")
