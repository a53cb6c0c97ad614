"""dbt's YAML shapes: `sources:` in sources.yml, and `models:` / `seeds:` with descriptions,
columns and generic tests in each folder's schema.yml (https://docs.getdbt.com/reference/model-properties).

    version: 2
    models:
      - name: tasks
        description: Every live task with where it stands today.
        columns:
          - name: status
            tests: [not_null, {accepted_values: {values: [open, done]}}]
          - name: project_id
            tests: [{relationships: {to: "ref('stg_asana_projects')", field: project_id}}]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

TEST_KINDS = ("unique", "not_null", "accepted_values", "relationships")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, when PyYAML was built with it
_REF = re.compile(r"""^\s*ref\(\s*['"](\w+)['"]\s*\)\s*$""")


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
class Properties:
    """What a schema.yml says about one model or seed."""

    description: str = ""
    columns: dict[str, str] = field(default_factory=dict)  # column -> description
    tests: tuple[ModelTest, ...] = ()


def load_yaml(path: Path) -> dict:
    """A dbt properties file (`version: 2`), as a dict."""
    try:
        data = yaml.load(path.read_text(), Loader=SafeLoader) or {}
    except yaml.YAMLError as exc:
        raise ModelError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or data.get("version") != 2:
        raise ModelError(f"{path} must be a dbt properties file starting with `version: 2`")
    return data


def read_sources(path: Path) -> dict[tuple[str, str], str]:
    """`sources:` -> {(source, table): schema.identifier}."""
    tables: dict[tuple[str, str], str] = {}
    for source in load_yaml(path).get("sources") or []:
        schema = source.get("schema", source["name"])
        for table in source.get("tables") or []:
            tables[(source["name"], table["name"])] = f"{schema}.{table.get('identifier', table['name'])}"
    return tables


def read_properties(paths: list[Path]) -> dict[str, Properties]:
    """Every `models:` and `seeds:` entry of the files, by name."""
    found: dict[str, Properties] = {}
    for path in paths:
        data = load_yaml(path)
        for entry in (data.get("models") or []) + (data.get("seeds") or []):
            name = entry.get("name")
            if name in found:
                raise ModelError(f"{path}: {name} is described twice")
            found[name] = _properties(name, entry)
    return found


def _properties(model: str, entry: dict) -> Properties:
    columns: dict[str, str] = {}
    tests: list[ModelTest] = []
    for column in entry.get("columns") or []:
        name = column.get("name", "")
        if not IDENTIFIER.match(name):
            raise ModelError(f"{model}: column name {name!r} is not a plain identifier")
        columns[name] = " ".join(str(column.get("description", "")).split())
        declared = column.get("tests", []) + column.get("data_tests", [])  # dbt >= 1.8 says data_tests
        tests += [_test(model, name, item) for item in declared]
    return Properties(" ".join(str(entry.get("description", "")).split()), columns, tuple(tests))


def _test(model: str, column: str, item: object) -> ModelTest:
    """One entry of a column's `tests:` list."""
    if item in ("unique", "not_null"):
        return ModelTest(model, column, item)
    kind, spec = next(iter(item.items())) if isinstance(item, dict) and len(item) == 1 else (None, None)
    if kind == "accepted_values" and isinstance(spec, dict) and isinstance(spec.get("values"), list):
        return ModelTest(model, column, kind, values=tuple(str(v) for v in spec["values"]))
    if kind == "relationships" and isinstance(spec, dict):
        target = _REF.match(str(spec.get("to", "")))
        to_field = spec.get("field", column)
        if not target or not IDENTIFIER.match(str(to_field)):
            raise ModelError(f"{model}.{column}: relationships needs `to: ref('model')` and a `field`")
        return ModelTest(model, column, kind, to=target.group(1), field=to_field)
    raise ModelError(f"{model}.{column}: unknown test {item!r}; known: {', '.join(TEST_KINDS)}")
