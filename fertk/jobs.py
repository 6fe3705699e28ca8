"""Jobs of ``fertk run``: one source → its output files; many sources → worker processes.

:func:`run_job` runs a :class:`fertk.pipeline.Pipeline` over one :class:`MediaItem`: the
pipeline describes the job (:meth:`~fertk.pipeline.Pipeline.run_item`: a
:class:`~fertk.io.job.Job`), :class:`fertk.io.outputs.RunOutputs` writes every file of it
(CSV, JSONL, annotated video or stills, timeline, summary) and :func:`run_job` returns its
:class:`~fertk.io.job.JobSummary`; :func:`run_jobs` runs many in spawned worker processes.
Which files are written is :class:`OutputOptions`. A job's error is reported in its
summary, so the other jobs of a run complete.
"""

from __future__ import annotations

import os
from typing import Any

from fertk.errors import FertkError
from fertk.io.job import JobSummary, _stats_dict
from fertk.io.outputs import OutputOptions, RunOutputs  # OutputOptions: its old import path
from fertk.io.video import DecodeStats, MediaItem
from fertk.pipeline import Pipeline


def run_job(pipe: Pipeline | dict[str, Any], item: MediaItem, out_dir: str | os.PathLike,
            options: OutputOptions | None = None, progress: Any = None) -> JobSummary:
    """Run one job and write its files; returns its summary (``error`` set on failure).

    A :class:`FertkError` (unreadable or corrupt source) is reported in the summary, not
    raised, so the other jobs of a run complete. ``progress(n_frames)`` is called per frame.
    """
    options = options or OutputOptions()
    stats = DecodeStats()
    try:
        if isinstance(pipe, dict):
            pipe = Pipeline(**pipe)
        job = pipe.run_item(item, stats)  # a video that cannot be opened fails before any file
        outputs = RunOutputs.for_job(job, out_dir, options)
        interrupted = False
        try:
            n = 0
            for rec, image in job:
                outputs.write(rec, image)
                n += 1
                if progress is not None:
                    progress(1)
                if options.max_frames is not None and n >= options.max_frames:
                    break
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            written = outputs.close({**_stats_dict(stats), "interrupted": interrupted})
    except FertkError as exc:
        return JobSummary.failed(item, str(exc), stats)
    return JobSummary.done(job, written)


def _job_in_worker(config: dict[str, Any], item: MediaItem, out_dir: str,
                   options: OutputOptions) -> dict[str, Any]:
    import traceback

    try:
        return run_job(config, item, out_dir, options)
    except Exception as exc:  # a bug in one job: report it with its traceback, go on
        return JobSummary.failed(item, f"{type(exc).__name__}: {exc}",
                                 traceback=traceback.format_exc())


def run_jobs(config: dict[str, Any], items: list[MediaItem], out_dir: str | os.PathLike,
             options: OutputOptions | None = None, workers: int = 2,
             on_done: Any = None) -> list[JobSummary]:
    """Run many jobs in ``workers`` processes (spawned); summaries in the order of ``items``.

    ``config`` holds :class:`Pipeline` keyword arguments made of names and paths (picklable).
    Each worker uses ``cpu_count // workers`` torch threads unless ``threads`` is set.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    options = options or OutputOptions()
    cfg = dict(config)
    if not cfg.get("threads"):
        cfg["threads"] = max(1, (os.cpu_count() or 1) // max(1, workers))
    results: dict[int, JobSummary] = {}
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(_job_in_worker, cfg, it, os.fspath(out_dir), options): k
                   for k, it in enumerate(items)}
        for fut in as_completed(futures):
            k = futures[fut]
            try:
                results[k] = fut.result()
            except Exception as exc:  # the worker process died (e.g. a crashing decoder)
                results[k] = JobSummary.failed(items[k], f"worker failed: {type(exc).__name__}: {exc}")
            if on_done is not None:
                on_done(results[k])
    return [results[k] for k in range(len(items))]


__all__ = ["JobSummary", "OutputOptions", "run_job", "run_jobs"]
