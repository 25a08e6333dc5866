"""`evaluate_bounded()`: run a batch of rules in a forked child under a wall-clock budget."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import struct
import time

from apps.policy.engine.base import RuleOutcome
from apps.policy.engine.evaluation import evaluate

# --- bounded evaluation ----------------------------------------------------------------
#
# cel-rust runs a program to the end while holding the GIL: no thread, signal or callback of this
# process can stop it (a variable resolver's exception is logged and ignored). So a batch is
# evaluated in a forked child process that streams one frame per rule, and the parent kills the
# child when a rule's budget runs out: that rule's outcomes become errors saying so, and a new
# child carries on with the next rule. Fork shares the prepared facts and compiled programs
# without copying or pickling them; only the outcomes travel back. The child touches no database
# connection and leaves with os._exit(), so nothing of the parent is closed or flushed twice.
# Outcomes travel as JSON lists.

_FRAME = struct.Struct("!I")


def budget_reason(budget_ms: int) -> str:
    """The reason a rule's results carry when it ran out of time."""
    return f"evaluation exceeded its time budget of {budget_ms} ms"


def _outcome_row(outcome: RuleOutcome) -> list:
    """An outcome as JSON for the pipe (plain lists decode much faster than pickled dataclasses)."""
    return [outcome.status, outcome.passed, outcome.reason, outcome.used, outcome.missing, outcome.message]


def _child_run(jobs, start: int, run, write_fd: int) -> None:
    try:
        for index in range(start, len(jobs)):
            rule, facts = jobs[index]
            row = [_outcome_row(run(rule, f)) for f in facts]
            data = json.dumps([index, row], separators=(",", ":")).encode()
            payload = _FRAME.pack(len(data)) + data
            view = memoryview(payload)
            while view:
                written = os.write(write_fd, view)
                view = view[written:]
    except BaseException:  # noqa: BLE001 - the parent sees the pipe close and reports the rule
        os._exit(1)
    os._exit(0)


def _read_frame(fd: int, buffer: bytearray, deadline: float) -> bytes | None:
    """The next frame from the child, None when it closed the pipe; TimeoutError at the deadline."""
    while True:
        if len(buffer) >= _FRAME.size:
            (size,) = _FRAME.unpack_from(buffer)
            if len(buffer) >= _FRAME.size + size:
                frame = bytes(buffer[_FRAME.size : _FRAME.size + size])
                del buffer[: _FRAME.size + size]
                return frame
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            raise TimeoutError
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return None
        buffer.extend(chunk)


def evaluate_bounded(rules, facts, *, budget_ms: int, run=None) -> list[list[RuleOutcome]]:
    """Evaluate each rule over the facts, each rule within `budget_ms` for the whole batch.

    `rules` is a list of CompiledRule (run over every fact set) or of (rule, [facts]) jobs when
    each rule has its own subjects; `run(rule, facts)` defaults to evaluate(). Returns, per rule,
    its outcomes in the order of its facts. A rule that exceeds its budget gets an "error"
    outcome for every fact set, with budget_reason() as the reason; the other rules are unaffected."""
    run = run or evaluate
    jobs = [r if isinstance(r, tuple) else (r, list(facts)) for r in rules]
    out: list[list[RuleOutcome] | None] = [None] * len(jobs)
    budget = max(1, int(budget_ms)) / 1000
    start = 0
    while start < len(jobs):
        if not any(f for _, f in jobs[start:]):  # nothing to evaluate: no child needed
            for index in range(start, len(jobs)):
                out[index] = []
            break
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            # Short-lived: no cyclic collection, which would walk (and so copy) the parent's whole heap.
            gc.disable()
            os.close(read_fd)
            _child_run(jobs, start, run, write_fd)
        os.close(write_fd)
        buffer = bytearray()
        index = start
        try:
            while index < len(jobs):
                try:
                    frame = _read_frame(read_fd, buffer, time.monotonic() + budget)
                except TimeoutError:
                    reason = budget_reason(budget_ms)
                    out[index] = [RuleOutcome(status="error", passed=False, reason=reason) for _ in jobs[index][1]]
                    index += 1
                    break
                if frame is None:  # the child died (out of memory, a crash in the library)
                    reason = "evaluation stopped unexpectedly (the evaluating process ended)"
                    out[index] = [RuleOutcome(status="error", passed=False, reason=reason) for _ in jobs[index][1]]
                    index += 1
                    break
                done, row = json.loads(frame)
                out[done] = [RuleOutcome(*item) for item in row]
                index = done + 1
        finally:
            os.close(read_fd)
            with contextlib.suppress(ProcessLookupError):  # it may have finished on its own
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        start = index
    return [row if row is not None else [] for row in out]
