"""`compile_rule()`: parse a CEL expression once, with cost limits, known names and friendly positions."""

from __future__ import annotations

import re
from collections.abc import Iterable

import cel

from apps.policy.engine.base import (
    _BOUND_RE,
    _COMPREHENSION_RE,
    _EVIDENCE_REF_RE,
    _EXPECTING_RE,
    _PATH_RE,
    _POSITION_RE,
    _STRING_RE,
    FACT_NAMES,
    KNOWN_FUNCTIONS,
    MAX_BRACKET_DEPTH,
    MAX_COMPREHENSION_DEPTH,
    MAX_EXPRESSION_LENGTH,
    MAX_RULE_LENGTH,
    CompiledRule,
    RuleSyntaxError,
    _key,
    _position_of,
)
from apps.policy.engine.schema import check_paths


def _friendly(message: str) -> str:
    """Shorten ANTLR's wording into something a person can act on while typing."""
    message = message.removeprefix("Syntax error: ")
    if "mismatched input '<EOF>'" in message:
        return "the expression ends too early: a value, name or closing bracket is expected here"
    if message.startswith("token recognition error at: '"):
        bad = message[len("token recognition error at: '") :].rstrip("'")
        if bad[:1] in ("'", '"'):
            return "a string is not closed: add the matching quote"
        return f"unexpected character {bad[:1]!r}"
    match = _EXPECTING_RE.search(message)
    if match and match.group(0).count(",") >= 6:
        message = message[: match.start()].rstrip() + ": a value or a name is expected here"
    elif match:
        message = message[: match.start()].rstrip() + ": expected one of " + match.group(0)[len("expecting ") :]
    message = message.replace(" expecting <EOF>", ": the expression should end here (is an operator missing?)")
    message = message.replace(" at '<EOF>'", " at the end")
    return message.replace("extraneous input", "unexpected").replace("mismatched input", "unexpected")


def _blank_strings(source: str) -> str:
    """The source with string literals replaced by spaces (same length), for regex scans."""
    return _STRING_RE.sub(lambda m: '""'.ljust(len(m.group(0))), source)


def _check_cost(expression: str, scan: str) -> None:
    """Refuse rules whose cost can explode: too long, too deeply nested (see MAX_COMPREHENSION_DEPTH)."""
    if len(expression) > MAX_RULE_LENGTH:
        line, column = _position_of(expression, MAX_RULE_LENGTH)
        raise RuleSyntaxError(
            f"the expression is longer than {MAX_RULE_LENGTH} characters; split it into several rules",
            line=line,
            column=column,
            expression=expression,
        )
    stack: list[bool] = []  # one entry per open bracket: True when it opens a comprehension
    for index, char in enumerate(scan):
        if char in "([{":
            comprehension = char == "(" and bool(_COMPREHENSION_RE.search(scan[max(0, index - 30) : index]))
            stack.append(comprehension)
            line, column = _position_of(expression, index)
            if comprehension and sum(stack) > MAX_COMPREHENSION_DEPTH:
                raise RuleSyntaxError(
                    f"comprehensions (all, exists, exists_one, map, filter) are nested {sum(stack)} deep here; "
                    f"at most {MAX_COMPREHENSION_DEPTH} are allowed, because each level multiplies the cost by "
                    "the length of its list: split the rule or compare with a precomputed fact",
                    line=line,
                    column=column,
                    expression=expression,
                )
            if len(stack) > MAX_BRACKET_DEPTH:
                raise RuleSyntaxError(
                    f"the expression nests brackets {len(stack)} deep here; at most {MAX_BRACKET_DEPTH} "
                    "are allowed: split it into several rules",
                    line=line,
                    column=column,
                    expression=expression,
                )
        elif char in ")]}" and stack:
            stack.pop()


def compile_rule(expression: str, *, requires: Iterable[str] = (), saving: bool = True) -> CompiledRule:
    """Parse a rule expression; raise RuleSyntaxError (with line and column) when it is not valid.

    `saving` applies the save-time checks: cost limits (length, nesting) and field paths against
    FACT_SCHEMA. Stored rules (written before a check existed) are compiled with saving=False:
    they are bounded by the run-time budget, and a wrong path only becomes a warning here (the
    rule's results are errors at run time, which fail closed)."""
    if not isinstance(expression, str):
        raise RuleSyntaxError(f"the expression must be text, got {type(expression).__name__}")
    if not expression.strip():
        raise RuleSyntaxError("the expression is empty: write a condition such as subject.kind == 'image'")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        line, column = _position_of(expression, MAX_EXPRESSION_LENGTH)
        raise RuleSyntaxError(
            f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters; split it into several rules",
            line=line,
            column=column,
            expression=expression,
        )
    if "\x00" in expression:
        line, column = _position_of(expression, expression.index("\x00"))
        raise RuleSyntaxError("the text contains a NUL character", line=line, column=column, expression=expression)
    try:
        program = cel.compile(expression)
    except ValueError as exc:
        text = str(exc)
        prefix = f"Failed to parse expression '{expression}': "
        details = text[len(prefix) :] if text.startswith(prefix) else text
        errors = list(_POSITION_RE.finditer(details))
        # cel-rust sometimes reports an internal complaint first; the parser's own message is clearer
        match = next((m for m in errors if m.group(3).startswith("Syntax error")), errors[0] if errors else None)
        if match:
            raise RuleSyntaxError(
                _friendly(match.group(3)), line=int(match.group(1)), column=int(match.group(2)), expression=expression
            ) from None
        raise RuleSyntaxError(_friendly(details.strip() or "not a valid expression"), expression=expression) from None
    except Exception as exc:  # noqa: BLE001 - the contract is RuleSyntaxError or a program
        raise RuleSyntaxError(f"not a valid expression ({type(exc).__name__})", expression=expression) from None

    scan = _blank_strings(expression)
    if saving:
        _check_cost(expression, scan)
    _check_names(program, expression, scan)
    try:
        warnings = check_paths(expression, scan)
    except RuleSyntaxError as exc:
        if saving:
            raise
        warnings = (exc.message,)
    required = []
    for item in requires:
        if not isinstance(item, str) or not item.strip():
            raise RuleSyntaxError(f"requires: {item!r} is not an evidence kind", expression=expression)
        key = _key(item)
        if key not in required:
            required.append(key)
    return CompiledRule(
        expression=expression,
        requires=tuple(required),
        evidence_keys=_evidence_keys(expression, scan),
        program=program,
        fact_paths=_fact_paths(expression, scan),
        warnings=warnings,
    )


def _check_names(program, expression: str, scan: str) -> None:
    """Unknown names and functions are compile errors here, not surprises at run time."""
    bound = set(_BOUND_RE.findall(scan))
    for name in program.variables():
        if name in FACT_NAMES or name in bound:
            continue
        match = re.search(rf"(?<![\w.]){re.escape(name)}\b", scan)
        line, column = _position_of(expression, match.start()) if match else (1, 1)
        raise RuleSyntaxError(
            f"unknown name {name!r}: a rule can use {', '.join(FACT_NAMES)}",
            line=line,
            column=column,
            expression=expression,
        )
    for name in program.functions():
        if name in KNOWN_FUNCTIONS or not name[:1].isalpha():  # operators look like _+_, !_, @in
            continue
        match = re.search(rf"\b{re.escape(name)}\s*\(", scan)
        line, column = _position_of(expression, match.start()) if match else (1, 1)
        raise RuleSyntaxError(f"unknown function {name!r}", line=line, column=column, expression=expression)


def _evidence_keys(expression: str, scan: str) -> tuple[str, ...]:
    keys: list[str] = []
    matches = 0
    for match in _EVIDENCE_REF_RE.finditer(expression):
        if not scan.startswith("evidence", match.start()):  # inside a string literal
            continue
        if match.group(1) and re.match(r"\s*\(", scan[match.end() :]):  # a method on the whole map
            continue
        if match.group(3) is not None and "-" in match.group(3):
            line, column = _position_of(expression, match.start(3))
            raise RuleSyntaxError(
                f"evidence kinds are written with _ in rules: use evidence.{_key(match.group(3))}",
                line=line,
                column=column,
                expression=expression,
            )
        matches += 1
        key = _key(match.group(1) or match.group(3))
        if key not in keys:
            keys.append(key)
    uses = len(re.findall(r"(?<![\w.])evidence\b", scan))
    if uses > matches:  # `evidence` used as a whole (e.g. evidence.exists(...), evidence[k]): it may read any kind
        return ("*",)
    return tuple(keys)


def _fact_paths(expression: str, scan: str, limit: int = 4) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """The first few fact paths an expression reads, found once at compile time."""
    found: list[tuple[str, str, tuple[str, ...]]] = []
    seen: set[str] = set()
    for match in _PATH_RE.finditer(scan):
        root, path = match.group(1), re.sub(r"\s+", "", expression[match.start(2) : match.end(2)])
        if root == "now":
            continue
        # a path that continues into a method call (x.startsWith(...)) shows its receiver
        if re.match(r"\s*\(", scan[match.end() :]) and "." in path:
            path = path[: path.rfind(".")]
        label = root + path
        if label in seen:
            continue
        seen.add(label)
        keys = tuple(
            m.group(1) or m.group(2) or m.group(3) or ""
            for m in re.finditer(r"\.([A-Za-z_]\w*)|\[(?:'([^']*)'|\"([^\"]*)\")\]", path)
        )
        found.append((label, root, keys))
        if len(found) >= limit:
            break
    return tuple(found)
