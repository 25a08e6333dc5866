"""The rule engine: CEL expressions over a documented fact model, no Django.

A rule is a CEL (Common Expression Language) expression that must produce `true` or
`false` for one subject. `compile_rule()` parses it once (raising RuleSyntaxError with a
line and column the editor can point at) and `evaluate()` runs it over the facts the
policy app gathers for a subject. The outcome is one of four:

    pass     the expression was true
    fail     the expression was false
    missing  an evidence kind the rule `requires` has not been recorded for the subject,
             so the expression was not run: no evidence is not the same as failing evidence
    error    the expression could not be evaluated on these facts (a key that is not
             there, a type mismatch, a non-boolean result); `passed` is False so that a
             hard gate fails closed, and the reason says what to fix

Nothing raised inside CEL escapes `evaluate()`.

The engine is the `common-expression-language` package (Rust bindings to cel-rust):
its parser reports `<input>:line:column: message` for every syntax error and a
compiled program runs tens of thousands of times a second, which matters because
every rule is re-run per subject whenever evidence arrives.

The fact model is documented once, in FACT_MODEL_DOC (engine/schema.py); docs/policy-fact-model.md
is the same text (a test keeps them equal).

The package's parts, each re-exported here so that callers import from the package:

- `schema`: The fact model as text (FACT_MODEL_DOC) and as data (FACT_SCHEMA), and the field-path check made on save.
- `evaluation`: Facts as CEL sees them and `evaluate()`: one compiled rule over one subject's facts.
- `base`: what every part shares: limits, fact names, patterns, RuleSyntaxError, CompiledRule, RuleOutcome.
- `compiler`: `compile_rule()`: parse a CEL expression once, with cost limits, known names and friendly positions.
- `bounded`: `evaluate_bounded()`: run a batch of rules in a forked child under a wall-clock budget.
- `messages`: Failure message templates: `{fact.path}` placeholders checked on save and rendered from the facts.
"""

from apps.policy.engine.base import (
    BASELINE,
    FACT_NAMES,
    KNOWN_FUNCTIONS,
    MAX_BRACKET_DEPTH,
    MAX_COMPREHENSION_DEPTH,
    MAX_EXPRESSION_LENGTH,
    MAX_RULE_LENGTH,
    CompiledRule,
    RuleOutcome,
    RuleSyntaxError,
)
from apps.policy.engine.bounded import (
    budget_reason,
    evaluate_bounded,
)
from apps.policy.engine.compiler import (
    compile_rule,
)
from apps.policy.engine.evaluation import (
    Facts,
    evaluate,
    prepare_facts,
)
from apps.policy.engine.messages import (
    MAX_MESSAGE_LENGTH,
    check_message,
    render_message,
)
from apps.policy.engine.schema import (
    ANY,
    FACT_MODEL_DOC,
    FACT_SCHEMA,
    LEAF,
    OTHER_EVIDENCE_KINDS,
    SUMMARY_FIELDS,
    Open,
    check_paths,
    schema_field_names,
)

__all__ = [
    "ANY",
    "BASELINE",
    "CompiledRule",
    "FACT_MODEL_DOC",
    "FACT_NAMES",
    "FACT_SCHEMA",
    "Facts",
    "KNOWN_FUNCTIONS",
    "LEAF",
    "MAX_BRACKET_DEPTH",
    "MAX_COMPREHENSION_DEPTH",
    "MAX_EXPRESSION_LENGTH",
    "MAX_MESSAGE_LENGTH",
    "MAX_RULE_LENGTH",
    "OTHER_EVIDENCE_KINDS",
    "Open",
    "RuleOutcome",
    "RuleSyntaxError",
    "SUMMARY_FIELDS",
    "budget_reason",
    "check_message",
    "check_paths",
    "compile_rule",
    "evaluate",
    "evaluate_bounded",
    "prepare_facts",
    "render_message",
    "schema_field_names",
]
