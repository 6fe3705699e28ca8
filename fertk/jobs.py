"""Jobs of ``fertk run``: one source → its output files; many sources → worker processes.

:func:`run_job` runs a :class:`fertk.pipeline.Pipeline` over one :class:`MediaItem` and writes
its outputs (:class:`fertk.io.outputs.RunOutputs`: CSV, JSONL, annotated video or stills,
timeline, summary); :func:`run_jobs` runs many in spawned worker processes. Which files are
written is :class:`OutputOptions`. A job's error is reported in its summary, so the other jobs
of a run complete.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from fertk.errors import FertkError
from fertk.io.video import DecodeStats, MediaItem
from fertk.pipeline import Pipeline


@dataclass
class OutputOptions:
    """Which files :func:`run_job` writes (see :class:`fertk.io.outputs.RunOutputs`)."""

    csv: bool = True
    jsonl: bool = True
    annotate: bool = True
    timeline: bool = True
    landmarks: bool = False
    max_frames: int | None = None


def run_job(pipe: Pipeline | dict[str, Any], item: MediaItem, out_dir: str | os.PathLike,
            options: OutputOptions | None = None, progress: Any = None) -> dict[str, Any]:
    """Run one job and write its files; returns its summary (``"error"`` set on failure).

    A :class:`FertkError` (unreadable or corrupt source) is reported in the summary, not
    raised, so the other jobs of a run complete. ``progress(n_frames)`` is called per frame.
    """
    from fertk.io.outputs import RunOutputs

    options = options or OutputOptions()
    stats = DecodeStats()
    base = {"name": item.name, "source": item.source, "kind": item.kind}
    try:
        if isinstance(pipe, dict):
            pipe = Pipeline(**pipe)
        still = item.kind == "images" and not item.sequence
        fps = None
        if item.kind in ("video", "webcam"):  # one that cannot be opened fails before any file
            from fertk.io.video import probe_video

            probed = probe_video(item.source).fps
            fps = probed if item.kind == "video" else None
        fps = (fps or pipe.fps or 30.0) / pipe.stride
        outputs = RunOutputs(out_dir, item.name, pipe.classes, csv_file=options.csv,
                             jsonl=options.jsonl, video=options.annotate and not still,
                             timeline=options.timeline and not still, landmarks=options.landmarks,
                             frame_label=pipe.model.head is not None or
                             (pipe.smoothing > 0 and not still), fps=fps)
        annotated_dir = None
        if options.annotate and still:
            annotated_dir = outputs.out_dir / f"{item.name}.annotated"
            annotated_dir.mkdir(parents=True, exist_ok=True)
            outputs.paths["annotated"] = annotated_dir
        interrupted = False
        try:
            frames = pipe.run_item(item, stats)
            n = 0
            for rec, image in frames:
                outputs.write(rec, image)
                if annotated_dir is not None:
                    import cv2

                    from fertk.io.outputs import annotate

                    target = annotated_dir / f"{item.still_name(rec.source)}.jpg"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(target), annotate(image, rec))
                n += 1
                if progress is not None:
                    progress(1)
                if options.max_frames is not None and n >= options.max_frames:
                    break
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            result = outputs.close({**_stats_dict(stats), "interrupted": interrupted})
    except FertkError as exc:
        return {**base, "error": str(exc), "frames": stats.decoded, "tracks": [],
                **_stats_dict(stats)}
    return {**base, **result}


def _stats_dict(stats: DecodeStats) -> dict[str, Any]:
    out = {"decoded": stats.decoded, "skipped_frames": stats.skipped,
           "unreadable": stats.unreadable[:20], "fps": stats.fps}
    if stats.missing:  # a truncated video: fewer frames than its header declares
        out.update(declared_frames=stats.frame_count, missing_frames=stats.missing)
    return out


def _job_in_worker(config: dict[str, Any], item: MediaItem, out_dir: str,
                   options: OutputOptions) -> dict[str, Any]:
    import traceback

    try:
        return run_job(config, item, out_dir, options)
    except Exception as exc:  # a bug in one job: report it with its traceback, go on
        return {"name": item.name, "source": item.source, "kind": item.kind, "tracks": [],
                "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}


def run_jobs(config: dict[str, Any], items: list[MediaItem], out_dir: str | os.PathLike,
             options: OutputOptions | None = None, workers: int = 2,
             on_done: Any = None) -> list[dict[str, Any]]:
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
    results: dict[int, dict[str, Any]] = {}
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(_job_in_worker, cfg, it, os.fspath(out_dir), options): k
                   for k, it in enumerate(items)}
        for fut in as_completed(futures):
            k = futures[fut]
            try:
                results[k] = fut.result()
            except Exception as exc:  # the worker process died (e.g. a crashing decoder)
                it = items[k]
                results[k] = {"name": it.name, "source": it.source, "kind": it.kind, "tracks": [],
                              "error": f"worker failed: {type(exc).__name__}: {exc}"}
            if on_done is not None:
                on_done(results[k])
    return [results[k] for k in range(len(items))]


__all__ = ["OutputOptions", "run_job", "run_jobs"]
