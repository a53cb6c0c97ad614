"""The jinja side of a model, as in dbt: `{{ ref('model') }}`, `{{ source('service', 'table') }}`
and `{{ config(materialized=...) }}`, plus `{{ today() }}` and `{{ as_of() }}` for the run's moment.

Macros render to plain SQL (a relation name, a `:today` parameter); everything after that is
sqlglot's job (pipelines/models/compiler.py).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from jinja2 import Environment, StrictUndefined

from pipelines.models.properties import ModelError

MATERIALIZATIONS = ("table", "view")
ENV = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=256)
def _compiled(template: str):
    """jinja compiles a template to Python once; a model is rendered on every run."""
    return ENV.from_string(template)


class Macros:
    """One rendering's macros; they remember what the model refers to."""

    def __init__(self, relation: Callable[[str], str], source_table: Callable[[tuple[str, str]], str]):
        self._relation, self._source_table = relation, source_table
        self.refs: dict[str, str] = {}  # model -> relation
        self.sources: dict[tuple[str, str], str] = {}  # (service, table) -> relation
        self.materialized = "table"

    def ref(self, name: str) -> str:
        self.refs[name] = self._relation(name)
        return self.refs[name]

    def source(self, service: str, name: str) -> str:
        self.sources[(service, name)] = self._source_table((service, name))
        return self.sources[(service, name)]

    def config(self, materialized: str = "table", **_: object) -> str:
        self.materialized = materialized
        return ""

    def render(self, model: str, template: str) -> str:
        """The model's SQL with every macro expanded; `:today` and `:as_of` are left as parameters."""
        try:
            return _compiled(template).render(
                ref=self.ref, source=self.source, config=self.config,
                today=lambda: "CAST(:today AS DATE)", as_of=lambda: "CAST(:as_of AS TIMESTAMPTZ)")
        except Exception as exc:  # jinja's errors are many kinds; the model's name is what helps
            raise ModelError(f"model {model} does not render: {exc}") from exc


def references(model: str, template: str) -> tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]:
    """What a model says about itself: materialization, the models it refs, the sources it reads."""
    macros = Macros(lambda name: name, lambda source: "_".join(source))
    macros.render(model, template)
    return macros.materialized, tuple(macros.refs), tuple(macros.sources)
