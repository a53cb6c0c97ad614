"""The YAML documents: written directly from the JSON data, they must read back as exactly that data."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.documents.render import to_yaml

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=12), json_values, max_size=6))
def test_yaml_reads_back_as_the_json_it_was_written_from(data):
    text = to_yaml(data).decode()
    assert yaml.load(text, Loader=yaml.CSafeLoader) == (data or None) or (not data and text.strip() == "")
    assert yaml.safe_load(text) == (data or None)


def test_strings_stay_strings_whatever_they_look_like():
    tricky = ["yes", "no", "on", "null", "~", "1.5", "0x10", "2026-11-29", "12:30", "- x", "a: b", "#c", "&a", "*a",
              "!tag", "'q'", '"q"', "\u2028", "\x85", "\ufeff", "  padded  ", ""]
    data = {"values": tricky, **{word: word for word in tricky if word}}
    assert yaml.safe_load(to_yaml(data).decode()) == data
