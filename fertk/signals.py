"""The one signal policy of fertk: SIGTERM stops a command the way Ctrl-C (SIGINT) does.

Schedulers and tools cancel with SIGTERM (``kill``, ``timeout``, SLURM's ``scancel``,
Kubernetes), a terminal with SIGINT. Under :func:`stop_on_signals` both raise
:class:`KeyboardInterrupt` in the main thread (for SIGTERM its subclass :class:`Terminated`),
so every ``finally`` and ``except KeyboardInterrupt`` that makes Ctrl-C leave valid files
(closed CSV and JSONL, a playable video, a summary) runs for both. The first signal
interrupts; later ones are ignored while that clean-up runs, so it cannot be cut in half
(SIGKILL still ends the process at once). :func:`exit_code` is the shell's ``128 + signal``.

Worker processes (:func:`fertk.jobs.run_jobs`) install the same policy
(:func:`worker_initializer`); the parent, interrupted, sends SIGTERM to its workers
(:func:`stop_processes`) and waits for them to close their files, so a signal sent to the
parent alone stops the workers too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterable, Iterator
from typing import Any

#: The signals handled like Ctrl-C.
SIGNALS = (signal.SIGINT, signal.SIGTERM)

_received: list[int] = []
#: Whether a signal raises now (a worker raises only while it runs a job, :func:`job`).
_armed = [True]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's ``KeyboardInterrupt`` (and caught by the same code)."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def _interrupt(signum: int, frame: Any) -> None:
    if _received:  # clean-up of the first signal is running: let it finish
        return
    _received.append(signum)
    if _armed[0]:
        raise KeyboardInterrupt if signum == signal.SIGINT else Terminated(signum)


def received() -> int | None:
    """The signal that stopped this process (``None`` if none did)."""
    return _received[0] if _received else None


def exit_code(default: int = 130) -> int:
    """``128 + signal`` of the signal received (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + _received[0] if _received else default


def install() -> dict[int, Any]:
    """Handle :data:`SIGNALS` like Ctrl-C in this process (main thread only); returns the
    handlers it replaced (for :func:`restore`)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    _received.clear()
    previous = {}
    for sig in SIGNALS:
        with contextlib.suppress(ValueError, OSError):
            previous[sig] = signal.signal(sig, _interrupt)
    return previous


def restore(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        with contextlib.suppress(ValueError, OSError, TypeError):
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise ``KeyboardInterrupt`` (see the module)."""
    previous = install()
    try:
        yield
    finally:
        restore(previous)


def worker_initializer() -> None:
    """For worker processes: the same policy as the parent's, except that a signal that
    arrives between jobs is only recorded (raising it there would kill the worker and break
    its pool): the next job sees :func:`received` and does not start."""
    install()
    _armed[0] = False


@contextlib.contextmanager
def job() -> Iterator[None]:
    """In a worker: a job runs; a signal now interrupts it like Ctrl-C."""
    armed = _armed[0]
    _armed[0] = True
    try:
        if _received:  # stopped while idle: stop at once
            raise KeyboardInterrupt if _received[0] == signal.SIGINT else Terminated(_received[0])
        yield
    finally:
        _armed[0] = armed


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A unit of work done whole: a signal arriving within the block is held until the block
    ends and raised there (one frame's rows reach every output file, or none of them). A
    signal received before the block (its clean-up is running) is not raised again."""
    armed, fresh = _armed[0], not _received
    _armed[0] = False
    try:
        yield
    finally:
        _armed[0] = armed
    if armed and fresh and _received:
        raise KeyboardInterrupt if _received[0] == signal.SIGINT else Terminated(_received[0])


def stop_processes(pids: Iterable[int], sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to each live process of ``pids`` (workers), ignoring those gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            os.kill(pid, sig)


__all__ = ["SIGNALS", "Terminated", "deferred", "exit_code", "install", "job", "received", "restore",
           "stop_on_signals", "stop_processes", "worker_initializer"]
