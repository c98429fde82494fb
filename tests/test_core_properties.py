"""Property tests: what is written is read back unchanged, through every path."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlreg import model_registry
from tests.fixtures.models import SumModel

import numpy as np
from tests.jsoncompare import same

def _valid_key(text: str) -> bool:
    from mlreg.errors import InvalidInput
    from mlreg.names import validate_key

    try:
        validate_key(text)
    except InvalidInput:
        return False
    return True


# the names validate_key accepts (no '=', no control, invisible or bidi formatting characters)
keys = st.text(min_size=1, max_size=40).filter(_valid_key)
tag_values = st.text(max_size=100).filter(lambda s: "\x00" not in s)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30).filter(lambda s: "\x00" not in s),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10).filter(lambda s: "\x00" not in s), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tag=st.tuples(keys, tag_values), metric=st.tuples(keys, json_values))
def test_tags_and_metrics_round_trip(registry, tag, metric):
    name, version = "m", "1"
    try:
        registry.get_model(name, version)
    except KeyError:
        registry.log_model(SumModel(), name, version, sample_input_data=np.ones((2, 2)))
    ref = model_registry.ModelReference(registry, name, version)
    ref.set_tag(*tag)
    registry.set_metric(name, version, *metric)
    assert ref.get_tag_value(tag[0]) == tag[1] == registry.get_tag_value(name, version, tag[0])
    assert same(ref.get_metric_value(metric[0]), metric[1])
    assert same(registry.get_metrics(name, version)[metric[0]], metric[1])
    tags_json, metrics_json = registry.list_models().select("TAGS, METRICS").fetchall()[0]
    assert json.loads(tags_json)[tag[0]] == tag[1]
    assert same(json.loads(metrics_json)[metric[0]], metric[1])
