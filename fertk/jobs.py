"""Jobs of ``fertk run``: one source → its output files; many sources → worker processes.

:func:`run_job` runs a :class:`fertk.pipeline.Pipeline` over one :class:`MediaItem`: the
pipeline describes the job (:meth:`~fertk.pipeline.Pipeline.run_item`: a
:class:`~fertk.io.job.Job`), :class:`fertk.io.outputs.RunOutputs` writes every file of it
(CSV, JSONL, annotated video or stills, timeline, summary) and :func:`run_job` returns its
:class:`~fertk.io.job.JobSummary`; :func:`run_jobs` runs many in spawned worker processes.
Which files are written is :class:`OutputOptions`. A job's error is reported in its
summary, so the other jobs of a run complete.

Interruptions follow :mod:`fertk.signals`: Ctrl-C and SIGTERM stop a job with its files
finished for the frames done (the ``KeyboardInterrupt`` carries that job's summary as
``.summary``); an error (a full disk) leaves none of its files under a final name. Worker
processes take the same policy; an interrupted parent stops its workers (SIGTERM), waits for
them to finish their files, and raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

import os
from typing import Any

from fertk.errors import FertkError
from fertk.fsutil import write_problem
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
    outputs: RunOutputs | None = None
    try:
        if isinstance(pipe, dict):
            pipe = Pipeline(**pipe)
        job = pipe.run_item(item, stats)  # a video that cannot be opened fails before any file
        outputs = RunOutputs.for_job(job, out_dir, options)
        try:
            n = 0
            for rec, image in job:
                _writing(outputs.write, rec, image)
                n += 1
                if progress is not None:
                    progress(1)
                if options.max_frames is not None and n >= options.max_frames:
                    break
        except (KeyboardInterrupt, Exception) as exc:
            # stopped (Ctrl-C, SIGTERM) or failed (a bad file, a bug): the frames done, in
            # finished files; a write error (a full disk) leaves none under a final name
            if not isinstance(exc, _WriteError):
                try:
                    done = _writing(outputs.close, {**_stats_dict(stats), "interrupted": True})
                except _WriteError:
                    if isinstance(exc, KeyboardInterrupt):  # still stop: nothing was kept
                        raise exc from None
                    raise
                if isinstance(exc, KeyboardInterrupt):
                    exc.summary = JobSummary.done(job, done)  # type: ignore[attr-defined]
            raise
        written = _writing(outputs.close, {**_stats_dict(stats), "interrupted": False})
    except _WriteError as exc:
        _abort(outputs)
        where = outputs.out_dir if outputs is not None else out_dir
        unwritten = JobSummary.failed(
            item, f"{item.name}: {write_problem(exc.__cause__, f'its files in {where}')}", stats)
        unwritten.interrupted = True  # not the source's fault: the same command re-does it
        return unwritten
    except FertkError as exc:
        return JobSummary.failed(item, str(exc), stats)
    except BaseException:
        _abort(outputs)  # nothing, unless closing failed
        raise
    return JobSummary.done(job, written)


class _WriteError(Exception):
    """An ``OSError`` of writing a job's files (its ``__cause__``): a full disk, a read-only one."""


def _writing(write: Any, *args: Any) -> Any:
    try:
        return write(*args)
    except OSError as exc:
        raise _WriteError() from exc


def _abort(outputs: RunOutputs | None) -> None:
    if outputs is not None:
        outputs.abort()


#: How long an interrupted parent waits for its workers to finish their files (seconds).
STOP_WAIT = 60.0


def _job_in_worker(config: dict[str, Any], item: MediaItem, out_dir: str,
                   options: OutputOptions) -> JobSummary:
    import traceback

    from fertk import signals

    try:
        with signals.job():
            return run_job(config, item, out_dir, options)
    except KeyboardInterrupt as exc:  # stopped: what the job finished, or that it did not run
        done = getattr(exc, "summary", None)
        if done is None and isinstance(exc.__context__, _WriteError):  # could not finish them
            done = _not_run(item)
            done.error = f"{item.name}: {write_problem(exc.__context__.__cause__, 'its files')}"
        return done if done is not None else _not_run(item)
    except Exception as exc:  # a bug in one job: report it with its traceback, go on
        return JobSummary.failed(item, f"{type(exc).__name__}: {exc}",
                                 traceback=traceback.format_exc())


def _not_run(item: MediaItem) -> JobSummary:
    summary = JobSummary.failed(item, "not run: the run was interrupted")
    summary.interrupted = True
    return summary


def run_jobs(config: dict[str, Any], items: list[MediaItem], out_dir: str | os.PathLike,
             options: OutputOptions | None = None, workers: int = 2,
             on_done: Any = None) -> list[JobSummary]:
    """Run many jobs in ``workers`` processes (spawned); summaries in the order of ``items``.

    ``config`` holds :class:`Pipeline` keyword arguments made of names and paths (picklable).
    Each worker uses ``cpu_count // workers`` torch threads unless ``threads`` is set.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed, wait

    options = options or OutputOptions()
    cfg = dict(config)
    if not cfg.get("threads"):
        cfg["threads"] = max(1, (os.cpu_count() or 1) // max(1, workers))
    from fertk import signals

    results: dict[int, JobSummary] = {}
    ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                               initializer=signals.worker_initializer)
    futures = {}
    try:
        futures = {pool.submit(_job_in_worker, cfg, it, os.fspath(out_dir), options): k
                   for k, it in enumerate(items)}
        for fut in as_completed(futures):
            k = futures[fut]
            results[k] = _result(fut, items[k])
            if on_done is not None:
                on_done(results[k])
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: stop the workers, keep their files
        for fut in futures:
            fut.cancel()
        signals.stop_processes(list(getattr(pool, "_processes", None) or {}))
        finished, _ = wait(futures, timeout=STOP_WAIT)
        exc.summaries = [_result(f, items[futures[f]]) for f in finished  # type: ignore[attr-defined]
                         if not f.cancelled()]
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [results[k] for k in range(len(items))]


def _result(fut: Any, item: MediaItem) -> JobSummary:
    try:
        return fut.result()
    except Exception as exc:  # the worker process died (e.g. a crashing decoder)
        return JobSummary.failed(item, f"worker failed: {type(exc).__name__}: {exc}")


__all__ = ["JobSummary", "OutputOptions", "run_job", "run_jobs"]
