"""The dbt-like runner: SQL models in `dbt_like_models/`, ordered by their `ref()`s, run per user.

Laid out as dbt lays a project out, so anyone who knows dbt can read it:
- a model is a jinja-templated SELECT (`templates.py`): `{{ source('gmail', 'messages') }}` reads
  a raw table (live rows), `{{ ref('stg_x') }}` another model or a seed,
  `{{ config(materialized='table'|'view') }}` says how to keep it;
- seeds are CSV files in `seeds/`, loaded into the warehouse and read with `ref()`;
- descriptions and generic tests (`unique`, `not_null`, `accepted_values`, `relationships`) sit
  in each folder's `schema.yml`, sources in `sources.yml`, both in dbt's YAML shape
  (`properties.py`; the project and its order: `project.py`).

What is ours: table models hold a `user_id` column, and a run for some users reads every source
and ref narrowed to those users (on the parsed SQL, `compiler.py`) and replaces only their
slice, so other users' rows are untouched. A model whose definition changed (or is new) is
rebuilt for everyone, and so is everything downstream of it. Tests report failing rows per user
(`runner.py`).
"""

from pipelines.models.compiler import compile_select, compile_sql
from pipelines.models.project import MODELS_DIR, Model, ModelProject
from pipelines.models.properties import ModelError, ModelTest
from pipelines.models.runner import ModelResult, ModelRunner

__all__ = ["MODELS_DIR", "Model", "ModelError", "ModelProject", "ModelResult", "ModelRunner", "ModelTest",
           "compile_select", "compile_sql"]
