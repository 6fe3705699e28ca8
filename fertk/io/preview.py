"""``fertk run --show``: a live window of the annotated frames (webcams, videos).

:meth:`Preview.wrap` returns the pipeline with its ``run_item`` wrapped so that each frame is
shown as it is processed; everything else (outputs, progress) is unchanged. Without a display
(no ``DISPLAY``/``WAYLAND_DISPLAY`` on Linux, one that cannot be reached, or an OpenCV built
without GUI support) it says so in one line, once, and the run continues without a window. ``q`` or Esc closes the window.
"""

from __future__ import annotations

import os
import sys
from typing import Any

#: Opens (and closes) a window in a child process: OpenCV's GUI backend may abort the whole
#: process (Qt: "could not connect to display") instead of raising, so it is tried apart first.
_PROBE = "import cv2; cv2.namedWindow('fertk'); cv2.waitKey(1); cv2.destroyAllWindows()"


def display_problem() -> str | None:
    """Why no window can be opened here, or None when one can: no display on Linux, a
    display that cannot be reached, or an OpenCV without GUI support (tried in a child
    process, so that a backend that aborts cannot end the run)."""
    import subprocess

    linux = sys.platform.startswith("linux")
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if linux and not display:
        return "no display (DISPLAY is not set)"
    try:
        probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                               timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot try a window ({type(exc).__name__})"
    if probe.returncode == 0:
        return None
    lines = [ln.strip() for ln in probe.stderr.splitlines() if ln.strip()]
    why = next((ln for ln in lines if "connect" in ln.lower()), lines[-1] if lines else
               f"exit status {probe.returncode}")
    where = f" on {display}" if display else ""
    return f"OpenCV cannot open a window{where} ({why[:100]})"


class Preview:
    """The pipeline ``pipe`` with each processed frame shown in a window."""

    def __init__(self, pipe: Any, err: Any):
        self._pipe = pipe
        self._err = err
        self.closed = False

    @classmethod
    def wrap(cls, pipe: Any, err: Any) -> Any:
        problem = display_problem()
        if problem is not None:
            err.print(f"--show: {problem}; running without the preview window",
                      markup=False, highlight=False)
            return pipe
        return cls(pipe, err)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipe, name)

    def run_item(self, item: Any, stats: Any = None):
        """The pipeline's job (:class:`fertk.io.job.Job`), its frames shown as they pass."""
        from dataclasses import replace

        job = self._pipe.run_item(item, stats)
        return replace(job, frames=self._shown(job.frames))

    def _shown(self, frames: Any):
        import cv2

        from fertk.draw import draw_results

        for rec, image in frames:
            if not self.closed:
                cv2.imshow("fertk", draw_results(image, rec))
                if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                    self.closed = True
                    cv2.destroyWindow("fertk")
            yield rec, image
        if not self.closed:
            cv2.destroyWindow("fertk")
