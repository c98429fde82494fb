"""Promotion policies: a small expression language (``expr``), its evaluation over a
model version's fields (``evaluate``) and policy files of named rules (``rules``).

Pure: no store, no registry; the registry builds the subject a policy is checked against
(``mlreg.registry.promotion``)."""

from mlreg.policy.evaluate import Absent, Lazy
from mlreg.policy.expr import PolicySyntaxError, parse
from mlreg.policy.rules import ROOTS, Policy, Rule, RuleResult, check, load_policy, parse_policy

__all__ = ["Absent", "Lazy", "Policy", "PolicySyntaxError", "ROOTS", "Rule", "RuleResult", "check",
           "load_policy", "parse", "parse_policy"]
