"""Rich progress display for training: one bar per stage with loss and accuracy (stderr)."""

from __future__ import annotations

from typing import Any


class TrainProgress:
    """A no-op when disabled (non-zero ranks, ``run.progress: false``)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._progress = None
        self._task = None
        if enabled:
            from fertk.clitools import progress_bar

            self._progress = progress_bar(
                "{task.fields[info]}", description="[bold]{task.description}", bar_width=24,
                remaining=True, transient=False,
            )

    def __enter__(self) -> TrainProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()

    def stage(self, description: str, total: int, completed: int = 0) -> None:
        if self._progress is None:
            return
        if self._task is not None:
            self._progress.update(self._task, visible=True)
        self._task = self._progress.add_task(description, total=total, completed=completed, info="")

    def update(self, advance: int = 1, **fields: Any) -> None:
        if self._progress is None or self._task is None:
            return
        info = "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                         for k, v in fields.items() if v is not None)
        self._progress.update(self._task, advance=advance, info=info)
        if not self._progress.console.is_terminal:  # logs: a line every ~10% of a stage
            task = self._progress.tasks[-1]
            step = max(1, int(task.total or 1) // 10)
            done = int(task.completed)
            if done % step < advance or done >= (task.total or 0):
                self._progress.console.print(f"{task.description} {done}/{int(task.total or 0)} {info}")

    def log(self, message: str) -> None:
        """A line in the progress display, or on stderr when there is none."""
        if self._progress is not None:
            self._progress.console.print(message)
        else:
            import sys

            print(f"fertk: {message}", file=sys.stderr)
