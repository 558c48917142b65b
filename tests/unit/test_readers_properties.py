"""Property tests (Hypothesis) of the readers of what powertrain reads back: the YAML loader and summary.json.

The YAML loader gives back any config powertrain writes (``dump_yaml``: text such as ``"1e-3"`` stays text, although
the loader reads a plain ``1e-3`` as a number), refuses every duplicate key, and refuses aliases that expand a
document many times over; the summary reader names the field of any value of the wrong kind and never makes up one.
"""

from __future__ import annotations

import json
import math

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from powertrain._files import dump_yaml, load_yaml_text
from powertrain._records import SUMMARY_FIELDS, read_summary
from powertrain.errors import DamagedFileError

keys = st.text(st.characters(categories=["L", "N"], max_codepoint=0x2FF), min_size=1, max_size=12)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)  # fmt: skip
documents = st.recursive(
    st.dictionaries(keys, scalars, max_size=6),
    lambda inner: st.dictionaries(keys, st.one_of(scalars, inner, st.lists(scalars, max_size=4)), max_size=5),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(documents)
def test_a_config_reads_back_as_written(document):
    assert load_yaml_text(dump_yaml(document)) == document


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(keys, scalars, min_size=1, max_size=6), st.data())
def test_every_duplicate_key_is_refused(document, data):
    key = data.draw(st.sampled_from(sorted(document)))
    text = yaml.safe_dump(document) + yaml.safe_dump({key: data.draw(scalars)})
    with pytest.raises(yaml.YAMLError, match="duplicate key"):
        load_yaml_text(text)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 9), st.integers(2, 9))
def test_aliases_that_multiply_a_document_are_refused(width, depth):
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, depth)]
    text = "\n".join(lines) + "\n"
    leaves = width**depth  # strings in the last list once every alias is expanded
    if leaves > 1_000_000:  # a bomb: 9 levels of 9 make 387 million strings from 90 nodes
        with pytest.raises(yaml.YAMLError, match="alias bomb"):
            load_yaml_text(text)
    elif leaves < 5_000:  # a few anchors used a few times are ordinary YAML
        assert len(load_yaml_text(text)) == depth


wrong = {
    "number": st.one_of(st.text(max_size=5), st.booleans(), st.lists(st.integers(), max_size=2), st.just(None)),
    "str": st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.dictionaries(keys, scalars)),
    "dict": st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2)),
}


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_summary_field_of_the_wrong_kind_is_named(tmp_path_factory, data):
    field = data.draw(st.sampled_from(["status", "config", "energy", "energy.total_j", "energy.lost_j"]))
    kinds = SUMMARY_FIELDS[field][0].split("|")
    value = data.draw(wrong["number" if "number" in kinds else kinds[0]])
    if any(_fits(kind, value) for kind in kinds):
        return
    summary = {"status": "completed", "final": True, "config": {}, "energy": {"total_j": 1.0, "lost_j": 0.0}}
    parent, _, leaf = field.rpartition(".")
    (summary[parent] if parent else summary)[leaf] = value
    path = tmp_path_factory.mktemp("s") / "summary.json"
    path.write_text(json.dumps(summary))
    with pytest.raises(DamagedFileError, match=rf"^summary.json .* is damaged: {field.replace('.', '[.]')} must be"):
        read_summary(path)


def _fits(kind, value):
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, {"str": str, "dict": dict}[kind]) and not isinstance(value, bool)
