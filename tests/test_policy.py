"""The policy language: parsing (malformed rules name the rule and column), evaluation
(true, false, missing values, wrong types) and policy files."""

from __future__ import annotations

import pytest

from mlreg.errors import NotFound, UsageError
from mlreg.policy import Absent, Lazy, check, load_policy, parse, parse_policy
from mlreg.policy.evaluate import evaluate
from mlreg.policy.expr import PolicySyntaxError

SUBJECT = {
    "metric": {"accuracy": 0.93, "cm": {"tp": 40, "fp": 3}, "f1-score": 0.5, "loss": [0.3, 0.2]},
    "tag": {"reviewed": "yes", "stage": "dev"},
    "description": "a model",
    "signature": {"predict": {"inputs": [{"name": "a", "type": "DOUBLE"}]}},
    "context": {"git_branch": "main"},
    "age": 3600.0,
    "verified": True,
    "alias": {"prod": {"metric": {"accuracy": 0.92}, "signature": {"predict": {"inputs": [{"name": "a", "type": "DOUBLE"}]}}},
              "staging": Absent("no version of m holds alias staging")},
}


def outcome(text: str, subject=SUBJECT):
    return evaluate(parse(text), subject)


@pytest.mark.parametrize("text", [
    "metric.accuracy >= 0.90",
    "metric.accuracy >= alias.prod.metric.accuracy - 0.01",
    "not alias.staging.exists or metric.accuracy > alias.staging.metric.accuracy",
    "tag.reviewed == 'yes' and tag.stage != \"prod\"",
    "signature.predict.inputs == alias.prod.signature.predict.inputs",
    "context.git_branch == 'main'",
    "verified",
    "age < 1d and age >= 30m and age == 1h",
    "metric.cm.tp / (metric.cm.tp + metric.cm.fp) > 0.9",
    "metric['f1-score'] in [0.5, 1]",
    "metric.loss[1] < metric.loss[0]",
    "tag.stage in ['dev', 'test'] and 'reviewed' in tag and 'mod' in description",
    "tag.stage not in ['prod']",
    "-metric.accuracy < 0 and 7 % 4 == 3 and 2 * 3 + 1 == 7",
    "(true or false) and not false",
    "alias.prod.exists and not alias.nothing.exists",
    "metric.missing.exists == false",
    "1e-3 < 0.01 and .5 == 0.5",
])
def test_true_rules(text):
    result = outcome(text)
    assert (result.passed, result.reason) == (True, None)


@pytest.mark.parametrize("text", [
    "metric.accuracy >= 0.95",
    "tag.reviewed == 'no'",
    "not verified",
    "age > 2h",
    "metric.accuracy == '0.93'",  # a string is not a number
    "true == 1",  # a boolean is not a number
])
def test_false_rules(text):
    result = outcome(text)
    assert (result.passed, result.reason) == (False, "the rule is false")


@pytest.mark.parametrize("text, reason", [
    ("metric.recall > 0.5", "metric.recall is missing (metric has no 'recall')"),
    ("metric.accuracy >= alias.staging.metric.accuracy", "no version of m holds alias staging"),
    ("tag.stage < 3", "cannot compare string 'dev' with number 3 using '<'"),
    ("metric.accuracy / 0 > 1", "division by zero in '/'"),
    ("tag.stage and true", "'and' needs true or false, got string 'dev'"),
    ("metric.accuracy", "the rule gives number 0.93, not true or false"),
    ("metric.cm + 1 > 0", "'+' needs numbers, got object {\"tp\":40,\"fp\":3} and number 1"),
    ("3 in 4", "'in' needs a list, object or string on its right, got number"),
])
def test_missing_or_mistyped_values_fail_the_rule_with_a_reason(text, reason):
    result = outcome(text)
    assert (result.passed, result.reason) == (False, reason)


def test_values_read_are_reported_in_order():
    result = outcome("not alias.staging.exists or metric.accuracy > 1")
    assert result.values == {"alias.staging.exists": False}
    result = outcome("metric.accuracy > 0.5 and metric.recall > 0.5")
    assert result.values == {"metric.accuracy": 0.93, "metric.recall": None}


def test_lazy_values_are_read_only_when_used():
    calls = []
    subject = dict(SUBJECT, verified=Lazy(lambda: calls.append(1) or True))
    assert outcome("metric.accuracy > 0.5", subject).passed and calls == []
    assert outcome("verified and verified", subject).passed and calls == [1]


@pytest.mark.parametrize("text, message, column", [
    ("metric.accuracy >= ", "expected a value, found the end of the rule", 20),
    ("metric.accuracy >>= 1", "expected a value, found '>='", 18),
    ("tag.x == 'y", "unterminated string", 10),
    ("1 < 2 < 3", "comparisons do not chain; join them with 'and'", 7),
    ("metric.a b", "unexpected 'b'", 10),
    ("(metric.a > 1", "expected ')', found the end of the rule", 14),
    ("metric.a = 1", "unexpected character '='", 10),
    ("metric.a > 1 ;", "unexpected character ';'", 14),
    ("", "empty rule", 1),
    ("metric[x] > 1", "expected a quoted key or an index, found 'x'", 8),
    ("tag.x == 'a\\q'", "unknown escape \\q", 12),
])
def test_malformed_rules_name_the_column(text, message, column):
    with pytest.raises(PolicySyntaxError) as info:
        parse(text)
    assert (str(info.value), info.value.column) == (f"{message} at column {column}", column)


def test_policy_file_errors_name_the_policy_and_rule(tmp_path):
    with pytest.raises(UsageError) as info:
        parse_policy('[rules]\nok = "verified"\nbroken = "metric.a >"\n', "prod")
    assert str(info.value) == "policy prod, rule broken: expected a value, found the end of the rule at column 11"
    with pytest.raises(UsageError, match=r"^policy prod, rule r: unknown field 'metrc' \(fields: .*\) at column 5$"):
        parse_policy('[rules]\nr = "1 < metrc.a"\n', "prod")
    with pytest.raises(UsageError, match="^policy prod: it has no rules"):
        parse_policy("[policy]\nname = 'prod'\n", "prod")
    with pytest.raises(UsageError, match="^policy p: not valid TOML"):
        parse_policy("[rules\n", "p")
    with pytest.raises(UsageError, match="^policy p, rule r: the rule must be a string expression$"):
        parse_policy("[rules]\nr = 3\n", "p")
    with pytest.raises(UsageError, match="^policy p: unknown table 'rule'"):
        parse_policy("[rule]\nr = 'verified'\n", "p")
    with pytest.raises(NotFound, match="does not exist"):
        load_policy(tmp_path / "absent.toml")


def test_policy_file_name_digest_and_rule_order(tmp_path):
    path = tmp_path / "production.toml"
    text = '[rules]\nb = "verified"\na = "alias.prod.exists or metric.x > alias.staging.metric.x"\n'
    path.write_text(text)
    policy = load_policy(path)
    assert policy.name == "production" and [r.name for r in policy.rules] == ["b", "a"]
    import hashlib

    assert policy.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert policy.aliases() == {"prod", "staging"}
    assert parse_policy('[policy]\nname = "gold"\n[rules]\nr = "verified"\n', "x").name == "gold"
    results = check(policy, SUBJECT)
    assert [(r.name, r.passed) for r in results] == [("b", True), ("a", True)]


def test_keywords_are_keys_after_a_dot():
    assert outcome("tag.not == 1", {"tag": {"not": 1}}).passed
    assert outcome("tag['a b'] == 'c'", {"tag": {"a b": "c"}}).passed


def test_any_text_parses_or_is_a_syntax_error_with_a_column():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    alphabet = st.sampled_from(list("metric.tag[]'\"()<>=!+-*/%, 0123456789andornotin_xyz\\\t\n"))

    @settings(max_examples=400, deadline=None)
    @given(st.text(alphabet, max_size=40) | st.text(max_size=20))
    def check_one(text):
        try:
            node = parse(text)
        except PolicySyntaxError as exc:
            assert 1 <= exc.column <= len(text) + 1
        else:
            evaluate(node, SUBJECT)  # never raises: a rule passes or fails

    check_one()
