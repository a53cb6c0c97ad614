"""The capability catalog: every parameter that holds a number or an id takes ASCII digits only."""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from sylo.commands.catalog import CATALOG

XERO_ID = "3f9c1b2a-0d4e-4c5f-8a6b-7c8d9e0f1a2b"
LINE = {"description": "Concept design", "quantity": "2", "unit_amount": "1200.50"}
VALID = {
    "asana.create_task": {"project_gid": "1201", "name": "Drawings", "due_on": "2026-12-01"},
    "asana.complete_task": {"task_gid": "1201"},
    "asana.comment": {"task_gid": "1201", "text": "Sent."},
    "xero.create_draft_invoice": {"contact_id": XERO_ID, "line_items": [LINE], "due_date": "2026-12-01"},
    "xero.send_invoice_reminder": {"invoice_id": XERO_ID},
    "veo.generate_video": {"prompt": "A model of the atrium", "duration_seconds": "8"},
}
# (action, path to the field, a value written with other digits); each must be refused
NON_ASCII = [
    ("asana.create_task", ["project_gid"], "١٢٠١"),  # Arabic-Indic
    ("asana.complete_task", ["task_gid"], "１２０１"),  # fullwidth
    ("asana.comment", ["task_gid"], "१२०१"),  # Devanagari
    ("asana.create_task", ["due_on"], "٢٠٢٦-12-01"),
    ("xero.create_draft_invoice", ["line_items", 0, "quantity"], "٢"),
    ("xero.create_draft_invoice", ["line_items", 0, "unit_amount"], "١٢٠٠.50"),
    ("xero.create_draft_invoice", ["due_date"], "2026-١٢-01"),
    ("xero.send_invoice_reminder", ["invoice_id"], "٣f9c1b2a-0d4e-4c5f-8a6b-7c8d9e0f1a2b"),
    ("veo.generate_video", ["duration_seconds"], "٨"),
]


def _with(params: dict, path: list, value) -> dict:
    changed = copy.deepcopy(params)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


@pytest.mark.parametrize("action", list(VALID))
def test_the_valid_examples_pass(action):
    CATALOG[action].params.model_validate(VALID[action])


@pytest.mark.parametrize(("action", "path", "value"), NON_ASCII, ids=[f"{a}:{p[-1]}" for a, p, _ in NON_ASCII])
def test_digits_outside_ascii_are_refused(action, path, value):
    with pytest.raises(ValidationError):
        CATALOG[action].params.model_validate(_with(VALID[action], path, value))
