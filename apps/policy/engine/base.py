"""What every part of the engine shares: limits, fact names, patterns, RuleSyntaxError, CompiledRule, RuleOutcome."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_EXPRESSION_LENGTH = 2000  # deeper nesting than this allows can overflow the native parser's stack
# Cost limits checked when a rule is saved (compile_rule(saving=True)). A comprehension
# (all, exists, exists_one, map, filter) runs its body once per element, so k nested ones over
# lists of n elements cost n**k: five levels over 17 builders took 0.7 to 1.3 s per subject.
# Two levels (e.g. "every endpoint's TLS version is in an allowed list") is all the shipped rules
# need. The run-time budget (evaluate_bounded) catches what stays expensive on large facts.
MAX_RULE_LENGTH = 1000
MAX_COMPREHENSION_DEPTH = 2
MAX_BRACKET_DEPTH = 12
FACT_NAMES = ("subject", "system", "evidence", "lineage", "approvals", "baseline", "now")
BASELINE = "baseline"  # the one `requires` name that is not an evidence kind

# Functions a rule may call: CEL's standard library as cel-rust implements it, and ours.
KNOWN_FUNCTIONS = frozenset(
    {
        "size", "has", "int", "uint", "double", "string", "bytes", "bool", "dyn", "type",
        "timestamp", "duration", "matches", "contains", "startsWith", "endsWith",
        "exists", "all", "exists_one", "map", "filter", "max", "min",
        "getFullYear", "getMonth", "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear",
        "getHours", "getMinutes", "getSeconds", "getMilliseconds",
        "age_days", "distinct",
    }
)  # fmt: skip

_POSITION_RE = re.compile(r"ERROR: <input>:(\d+):(\d+): ([^\n]*)")
_EXPECTING_RE = re.compile(r"expecting \{[^}]*\}")
_STRING_RE = re.compile(r"""(?s)[rR]?(?:'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")""")
_COMPREHENSION_RE = re.compile(r"\.\s*(all|exists_one|exists|map|filter)\s*$")
_BOUND_RE = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_EVIDENCE_REF_RE = re.compile(r"\bevidence\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*(['\"])([^'\"]*)\2\s*\])")
_PATH_RE = re.compile(
    r"(?<![\w.])(" + "|".join(FACT_NAMES) + r")((?:\s*\.\s*[A-Za-z_]\w*|\s*\[\s*(?:'[^']*'|\"[^\"]*\")\s*\])*)"
)


class RuleSyntaxError(ValueError):
    """A rule expression does not compile; `line` and `column` (1-based) point at the problem."""

    def __init__(self, message: str, *, line: int = 1, column: int = 1, expression: str = ""):
        self.message = message
        self.line = line
        self.column = column
        self.expression = expression
        super().__init__(f"line {line}, column {column}: {message}")

    def as_dict(self) -> dict:
        """What an editor needs to underline the problem while the user types."""
        return {"message": self.message, "line": self.line, "column": self.column}


@dataclass(frozen=True)
class CompiledRule:
    """A parsed expression, ready to run over many fact sets."""

    expression: str
    requires: tuple[str, ...]  # normalized: evidence keys with "_", plus possibly "baseline"
    evidence_keys: tuple[str, ...]  # evidence kinds the expression reads (for `used`); ("*",) if any
    program: object = field(repr=False, compare=False)
    # fact paths the expression reads, (label, root, keys), for the outcome's reason
    fact_paths: tuple[tuple[str, str, tuple[str, ...]], ...] = field(default=(), repr=False, compare=False)
    # paths the fact model does not list where it is open (an unknown summary field, evidence kind)
    warnings: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class RuleOutcome:
    """What one rule said about one subject."""

    status: str  # "pass" | "fail" | "missing" | "error"; rulesets adds "not-applicable"
    passed: bool | None  # True, False, or None when evidence is missing
    reason: str
    used: list[str] = field(default_factory=list)  # ids of the evidence the rule read
    missing: list[str] = field(default_factory=list)  # required kinds that were absent
    message: str = ""  # the rule's plain-language failure message, facts filled in (rulesets)


def _key(kind: str) -> str:
    return kind.strip().replace("-", "_")


def _position_of(source: str, index: int) -> tuple[int, int]:
    line = source.count("\n", 0, index) + 1
    column = index - (source.rfind("\n", 0, index) + 1) + 1
    return line, column
