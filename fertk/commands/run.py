"""CLI commands: ``fertk run`` (expressions in images, folders, videos, webcams) and ``fertk export``.

Both are thin layers over :mod:`fertk.pipeline` and :mod:`fertk.export`; heavy modules are
imported inside the command bodies so ``fertk --help`` stays light.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from fertk.clitools import (
    EngineType,
    FiniteFloat,
    component_option,
    console,
    crop_options_option,
    detector_options_option,
    device_option,
    json_option,
    parse_options,
    print_json,
    print_table,
    progress_bar,
    recursive_option,
    stride_option,
    workers_option,
)
from fertk.errors import FertkError
from fertk.faces import DEFAULT_DETECTOR
from fertk.hookspecs import hookimpl

if TYPE_CHECKING:  # pragma: no cover
    from fertk.io.job import JobSummary


@click.command("run")
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@component_option("--detector", "-d", kind="detectors", default=None,
                  help=f"Face detector [default: the weights' suggestion, else {DEFAULT_DETECTOR}].")
@detector_options_option()
@component_option("--crop", "-c", kind="crops", default=None,
                  help="Crop policy [default: the weights' own]; a different one is refused.")
@crop_options_option()
@component_option("--backbone", kind="backbones", default=None,
                  help="Frame model; needs trained weights (registered or --weights).")
@click.option("--weights", default=None, metavar="CHECKPOINT|NAME|FILE.onnx",
              help="Trained checkpoint, registered weight name (fertk weights list) or exported "
                   "ONNX model [default: the bundled default, fertk weights list].")
@component_option("--temporal", kind="temporal", default=None,
                  help="Temporal head per track (gru needs a checkpoint that holds one).")
@click.option("--engine", type=EngineType(), default="auto", show_default=True,
              help="auto (onnxruntime on the CPU when installed, else torch), torch, onnxruntime, "
                   "or another registered engine (fertk list engines: channels_last, int8_dynamic, ...).")
@device_option()
@click.option("--detect-every", type=click.IntRange(min=1), default=5, show_default=True,
              help="Video: detect every N processed frames (fast, around each tracked face), "
                   "landmark optical flow in between.")
@click.option("--scan-every", type=click.IntRange(min=1), default=None,
              help="Video: full-quality detection of the whole frame every N processed frames "
                   "[about 1 s of video]; --detect-every 1 --scan-every 1 detects every frame "
                   "at full quality.")
@click.option("--smooth", "smoothing", type=FiniteFloat(min=0), default=None,
              metavar="SECONDS",
              help="Video: width of the window, centred on each frame, over which each track's "
                   "probabilities are averaged (results come out half of it late); 0 turns it "
                   "off [1 without a temporal head, else 0].")
@click.option("--hysteresis", type=click.FloatRange(min=1, max=1e6), default=None,
              metavar="RATIO",
              help="Video: a track's label changes only when another expression is RATIO times "
                   "as probable (smoothed); 1 turns it off [2 with smoothing, else 1].")
@stride_option(aliases=("--every",))
@click.option("--window", type=click.IntRange(min=1), default=9, show_default=True,
              help="Latest sampled frames per track given to the temporal head.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
              help="Face crops classified together (across faces and frames).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="fertk-run",
              show_default=True, help="Output folder.")
@click.option("--annotate/--no-annotate", default=True, show_default=True,
              help="Write an annotated video (annotated images for stills).")
@click.option("--timeline/--no-timeline", default=True, show_default=True,
              help="Write a PNG of the probabilities over time per video.")
@click.option("--csv/--no-csv", "write_csv", default=True, show_default=True,
              help="Write NAME.csv: one row per frame and face.")
@click.option("--jsonl/--no-jsonl", default=True, show_default=True,
              help="Write NAME.jsonl: one JSON object per frame.")
@click.option("--embeddings", is_flag=True,
              help="Add each face's embedding (the frame model's penultimate-layer vector) to "
                   "the JSONL, as \"embedding\".")
@click.option("--require-face", is_flag=True,
              help="A source in which no face is found fails (an image without a face; a video "
                   "without one in any frame) instead of giving empty results.")
@click.option("--table/--no-table", default=True, show_default=True,
              help="Add each source to the run's results table, OUT/results/ (Parquet; "
                   "fertk.read_results(OUT) reads it).")
@click.option("--landmarks", is_flag=True,
              help="Add landmarks to the CSV (columns x_0..x_N, y_0..y_N) and the JSONL.")
@click.option("--show", is_flag=True,
              help="Show the annotated frames in a window while running (needs a display).")
@click.option("--image-sequence", is_flag=True,
              help="Images of one folder/glob are frames of one clip (tracked, temporal head).")
@click.option("--fps", type=float, default=None, help="Frame rate of image sequences [30].")
@click.option("--max-frames", type=click.IntRange(min=1), default=None,
              help="Stop each source after N processed frames (webcams).")
@recursive_option()
@workers_option(help="Parallel worker processes when there are several videos.")
@click.option("--shard", default=None, metavar="I/N",
              help="Process only part I of N (0 <= I < N) of the sources: one share per machine "
                   "or array task, e.g. --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT.")
@click.option("--retry-failed", is_flag=True,
              help="Run again the sources that failed in an earlier run into the same --out "
                   "(those done are skipped, those interrupted re-done, in any case).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Torch/onnxruntime threads per process.")
@json_option(help="Print the summaries as JSON on stdout.")
def run_command(sources, detector, detector_opts, crop, crop_opts, backbone, weights, temporal,
                engine, device, detect_every, scan_every, smoothing, hysteresis, stride, window,
                batch_size,
                out_dir, annotate, timeline, write_csv, jsonl, embeddings, require_face, table,
                landmarks, show,
                image_sequence,
                fps, max_frames, recursive, workers, shard, retry_failed, threads, as_json):
    """Recognise facial expressions in SOURCE... (images, folders, globs, videos, webcam index).

    Writes per source into --out: NAME.csv (one row per frame and face; frames without a
    face have faces=0; columns in docs/run.md), NAME.jsonl, NAME.tracks.csv (per track:
    dominant expression, seconds in each; stills: per image, faces showing each),
    NAME.summary.json, NAME.annotated.mp4 (stills: NAME.annotated/IMAGE.jpg) and
    NAME.timeline.png. Still images given together (files, globs, a folder) are one source.
    Each source's files appear when it is complete; OUT/fertk-run.ledger.json records what is
    done, so running the same command again resumes (docs/run.md, "Many videos").

    \b
    Examples:
      fertk run examples/media/grace_hopper.jpg
      fertk run examples/media/*.jpg --out photos
      fertk run examples/media/pexels_wolfgang_langer.mp4 --max-frames 60 --stride 2
      fertk run examples/media/pexels_wolfgang_langer.mp4 --detector opencv --crop box --max-frames 30
      fertk run 0 --max-frames 300 --show     # webcam 0, with a live preview
      fertk run videos/ -r --workers 2 --shard 0/4
    """
    from fertk.fsutil import check_out_dir
    from fertk.io.video import check_fps, expand_sources
    from fertk.io.video import shard as take_shard
    from fertk.jobs import OutputOptions
    from fertk.pipeline import Pipeline

    fps = check_fps(fps, "--fps")
    if embeddings and not jsonl:
        raise click.UsageError("--embeddings are written into the JSONL: leave out --no-jsonl")
    check_out_dir(out_dir, "--out")  # before any work: a file in the way is one line
    items = take_shard(expand_sources(list(sources), image_sequence=image_sequence,
                                      recursive=recursive), shard)
    config = dict(
        detector=detector, crop=crop, backbone=backbone, temporal=temporal, weights=weights,
        engine=engine, device=device, detect_every=detect_every, scan_every=scan_every,
        smoothing=smoothing, hysteresis=hysteresis, stride=stride, window=window,
        batch_size=batch_size, image_sequence=image_sequence, fps=fps, threads=threads,
        embeddings=embeddings, require_face=require_face,
        detector_options=parse_options(detector_opts, "--detector-option") or None,
        crop_options=parse_options(crop_opts, "--crop-option") or None,
    )
    err = console(stderr=True)
    if not items:
        err.print(f"shard {shard}: no source to process")
        return
    pipe = Pipeline(**config)  # builds and checks the model once, before any work starts
    options = OutputOptions(csv=write_csv, jsonl=jsonl, annotate=annotate, timeline=timeline,
                            landmarks=landmark_count(pipe) if landmarks else False,
                            max_frames=max_frames, table=table)
    from fertk.io.ledger import Ledger, run_settings

    default_out = click.get_current_context().get_parameter_source("out_dir") \
        == click.core.ParameterSource.DEFAULT
    # a changed setting: one line, except in the default (scratch) folder, where it starts afresh
    ledger = Ledger(out_dir, run_settings(pipe, options), replace_other=default_out)
    plan = ledger.plan(items, retry_failed=retry_failed)
    options.summary_extra = {"run": {"settings": ledger.digest}}
    if show:
        from fertk.io.preview import Preview

        pipe = Preview.wrap(pipe, err)
        workers = 1  # one window, in this process
    parts = pipe.describe()
    from fertk.faces import crop_label

    err.print(f"fertk run: {len(items)} source(s); detector {parts['detector']}, crop "
              f"{crop_label(parts['crop'], parts.get('crop_options'))}, model {parts['weights']} "
              f"({parts['engine']} on "
              f"{parts['device']}), {labelling(parts)}, classes {', '.join(parts['classes'])}",
              markup=False, highlight=False)
    if ledger.replaced:
        err.print(f"{out_dir}: earlier results there were made with other settings "
                  f"({', '.join(ledger.replaced[:3])}); they are replaced as their sources run "
                  "again (give --out to keep runs apart and resume them)",
                  markup=False, highlight=False)
    if plan.done or plan.failed:
        err.print(f"resuming {out_dir}: {len(plan.done)} source(s) done before, skipped; "
                  f"{len(plan.failed)} failed before, skipped" +
                  (" (--retry-failed runs them again)" if plan.failed else "") +
                  f"; {len(plan.run)} to run", markup=False, highlight=False)
    todo = plan.run
    try:
        if workers > 1 and len(todo) > 1:
            fresh = _run_parallel(config, todo, out_dir, options, workers, err, ledger)
        else:
            fresh = []
            for it in todo:
                fresh.append(_run_one(pipe, it, out_dir, options, err, say_error=len(items) > 1))
                ledger.record(it, fresh[-1])
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: what was interrupted, in the ledger
        by_name = {it.name: it for it in todo}
        for res in getattr(exc, "summaries", None) or [getattr(exc, "summary", None)]:
            if res is not None and res.name in by_name:
                ledger.record(by_name[res.name], res)
                if res.error and not res.error.startswith("not run"):
                    err.print(f"error {res.error}", markup=False, highlight=False)
        raise
    _report(_in_order(items, fresh, plan, out_dir), as_json, out_dir)


def _in_order(items, fresh, plan, out_dir) -> list[JobSummary]:
    """The summaries of all ``items`` in their order: run now, done before (read back from
    their summary JSON), or failed before and not retried."""
    from fertk.io.job import JobSummary
    from fertk.io.ledger import done_summary

    got = {r.name: r for r in fresh}
    got.update({it.name: done_summary(out_dir, it) for it in plan.done})
    got.update({it.name: JobSummary.failed(it, f"{error} (in an earlier run; --retry-failed "
                                               "runs it again)") for it, error in plan.failed})
    return [got[it.name] for it in items if it.name in got]


def labelling(parts: dict) -> str:
    """How video labels are made, for the run header: the temporal head (or the frame model,
    naming the head the weights hold) and the smoothing and hysteresis; stills: frame model."""
    held = parts.get("weights_temporal")
    head = (f"temporal head {parts['temporal']}" if parts["temporal"] else
            "frame model" + (f" (the weights' {held} head runs with --temporal {held})"
                             if held else ""))
    smooth = (f"{parts['smoothing']:g} s centred smoothing" if parts["smoothing"]
              else "no smoothing")
    if parts.get("hysteresis", 1) > 1:
        smooth += f", hysteresis {parts['hysteresis']:g}x"
    return f"videos: {head}, {smooth}; stills: frame model"


def landmark_count(pipe) -> int:
    """Points per face of the pipeline's detector (68 when it does not say): the CSV's
    ``x_i``/``y_i`` columns."""
    from fertk.types import find_scheme

    scheme = find_scheme(getattr(pipe.detector, "scheme", None), pipe.context)
    return scheme.num_points if scheme is not None else 68


def _run_one(pipe, item, out_dir, options, err, say_error=True):
    from fertk.jobs import run_job

    total = None
    if item.kind == "video":
        try:
            from fertk.io.video import probe_video

            count = probe_video(item.source).frame_count
            total = -(-count // pipe.stride) if count else None
        except FertkError:
            total = None
    elif item.kind == "images":
        total = -(-len(item.paths) // pipe.stride)
    if options.max_frames and total:
        total = min(total, options.max_frames)
    if not err.is_terminal:  # a log file or a pipe: a plain line every few seconds
        result = run_job(pipe, item, out_dir, options, progress=PlainProgress(
            item.name, total, unit="images" if item.kind == "images" and not item.sequence
            else "frames"))
    else:
        with progress_bar("{task.fields[fps]}", console_=err, transient=False) as prog:
            task = prog.add_task(item.name, total=total, fps="")

            def tick(n):
                prog.advance(task, n)
                speed = prog.tasks[task].speed
                if speed:
                    prog.update(task, fps=f"{speed:.1f} fps")

            result = run_job(pipe, item, out_dir, options, progress=tick)
    if result.error:
        if say_error:  # a lone source's error is the run's one error line (_report)
            err.print(f"[red]error[/red] {result.error}")
    elif result.video_codec:
        err.print(f"{item.name}: annotated video {result.files.get('video')} "
                  f"({result.video_codec})", markup=False, highlight=False)
    return result


class PlainProgress:
    """``progress(n)`` callback printing ``NAME: done/total frames (p%), fps, ETA`` to stderr
    at most every ``interval`` seconds (and once at the end of the source)."""

    def __init__(self, name: str, total: int | None, interval: float = 5.0,
                 unit: str = "frames"):
        import time

        self.name, self.total, self.interval, self.unit = name, total, float(interval), unit
        self.clock = time.monotonic
        self.start = self.last = self.clock()
        self.done = 0

    def __call__(self, n: int) -> None:
        self.done += n
        now = self.clock()
        if now - self.last >= self.interval or (self.total and self.done >= self.total):
            self.last = now
            click.echo(self.line(now), err=True)

    def line(self, now: float) -> str:
        fps = self.done / max(now - self.start, 1e-9)
        if not self.total:
            return f"{self.name}: {self.done} {self.unit}, {fps:.1f} fps"
        left = max(self.total - self.done, 0) / fps if fps > 0 else 0.0
        return (f"{self.name}: {self.done}/{self.total} {self.unit} "
                f"({100.0 * self.done / self.total:.0f}%), {fps:.1f} fps, ETA {left:.0f} s")


def _run_parallel(config, items, out_dir, options, workers, err, ledger=None):
    from fertk.jobs import run_jobs

    by_name = {it.name: it for it in items}

    with progress_bar(description="sources", console_=err, disable=not err.is_terminal) as prog:
        task = prog.add_task("sources", total=len(items))

        def done(res):
            if ledger is not None:
                ledger.record(by_name[res.name], res)
            prog.advance(task)
            if not err.is_terminal:  # a log: one plain line per finished source
                click.echo(f"{res.name}: done ({int(prog.tasks[task].completed)}/{len(items)} "
                           f"sources, {res.frames} frames)", err=True)
            if res.error:
                err.print(f"[red]error[/red] {res.name}: {res.error}")
                if res.traceback:
                    err.print(res.traceback, markup=False, highlight=False)

        return run_jobs(config, items, out_dir, options, workers=workers, on_done=done)


def summary_tables(results: list[JobSummary]) -> list[tuple[str, list[str], list[list]]]:
    """``(what, columns, rows)`` of the final tables, stills and videos apart: one row per
    image of stills (faces and how many show each expression), one per track of a video
    (frames, seconds, time in each expression); a failed source is a row of its own kind's
    table (of the videos' when its kind is unknown)."""
    still_cols = ["image", "faces", "dominant", "faces per expression"]
    video_cols = ["source", "track", "frames", "seconds", "dominant", "time in each (s)"]
    stills: list[list] = []
    videos: list[list] = []
    for res in results:
        if res.error:
            if res.kind == "images":
                stills.append([res.name, "", "ERROR", res.error])
            else:
                videos.append([res.name, "", "", "", "ERROR", res.error])
            continue
        if res.stills:
            if not res.tracks:
                stills.append([res.name, 0, "no face", ""])
            for t in res.tracks:
                counts = ", ".join(f"{c} {n}" for c, n in sorted(
                    t["frames_in"].items(), key=lambda kv: -kv[1]) if n)
                stills.append([os.path.basename(t["source"]), t["frames"], t["dominant"], counts])
            continue
        if not res.tracks:
            videos.append([res.name, "-", res.frames, "", "no face", ""])
        for t in res.tracks:
            spent = ", ".join(f"{c} {s:.1f}" for c, s in sorted(
                t["time_in"].items(), key=lambda kv: -kv[1]) if s > 0)
            videos.append([res.name, t["track"], t["frames"], t["seconds"], t["dominant"], spent])
    tables = [("image", still_cols, stills)] if stills else []
    return tables + ([("track", video_cols, videos)] if videos else [])


def _report(results: list[JobSummary], as_json, out_dir):
    failed = [r for r in results if r.error]
    if len(failed) == len(results) == 1 and not as_json:
        raise FertkError(failed[0].error)  # nothing ran: no table, just why
    if as_json:
        print_json([r.to_dict() for r in results])
    else:
        for what, cols, rows in summary_tables(results):
            kind = "stills" if what == "image" else "videos"
            print_table(f"fertk run, {kind}: expressions per {what} (files in {out_dir})", cols,
                        rows, no_wrap=("image", "source"), drop=("seconds", "frames"))
        done = [r for r in results if not r.error]
        parts = []
        for kind, unit in ((False, "frame"), (True, "image")):
            group = [r for r in done if r.stills == kind]
            if group:
                n = sum(r.frames for r in group)
                empty = sum(r.frames_without_face for r in group)
                bad = sum(r.decode.get("skipped_frames", 0) for r in group)
                parts.append(f"{n} {unit}(s), {empty} without a face, {bad} unreadable "
                             f"{unit}(s) skipped")
        console().print(f"{len(done)}/{len(results)} source(s) done" +
                        "".join(f", {p}" for p in parts))
    for r in results:
        if r.stills and r.decode.get("skipped_frames") and r.decode.get("unreadable"):
            shown = r.decode["unreadable"][:10]
            more = r.decode["skipped_frames"] - len(shown)
            console(stderr=True).print(
                f"warning: {r.name}: {r.decode['skipped_frames']} unreadable image(s) skipped:\n  "
                + "\n  ".join(shown) + (f"\n  … {more} more in {r.name}.summary.json"
                                         if more > 0 else ""),
                markup=False, highlight=False, soft_wrap=True)
        if r.decode.get("missing_frames"):
            declared = r.decode["declared_frames"]
            read = declared - r.decode["missing_frames"]
            console(stderr=True).print(
                f"warning: {r.name}: the video ends after {read} of the {declared} "
                "frames its header declares (truncated file?); the results cover those frames",
                markup=False, highlight=False, soft_wrap=True)
    if failed:
        names = ", ".join(r.name for r in failed[:5])
        rest = "the others completed" if len(failed) < len(results) else "none completed"
        raise FertkError(f"{len(failed)} of {len(results)} source(s) failed ({names}); {rest}")


@click.command("export")
@click.argument("checkpoint", metavar="CHECKPOINT")
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Output base path (writes OUT.onnx, OUT.json) [default: beside the checkpoint].")
@click.option("--with-head", is_flag=True, help="Also export the temporal head (OUT.head.onnx).")
@click.option("--opset", type=int, default=17, show_default=True)
@click.option("--atol", type=FiniteFloat(min=0, min_open=True, max=1), default=1e-4,
              show_default=True,
              help="Largest allowed probability difference between onnxruntime and PyTorch.")
def export_command(checkpoint, fmt, out, with_head, opset, atol):
    """Export CHECKPOINT (path or weight name) to ONNX and check parity with PyTorch.

    The result runs with `fertk run --weights OUT.onnx` (engine onnxruntime).
    """
    from fertk.export import export_onnx

    res = export_onnx(checkpoint, out, with_head=with_head, opset=opset, atol=atol)
    rows = [["backbone", str(res.model), f"{res.backbone_diff:.2e}"]]
    if res.head is not None:
        rows.append(["temporal head", str(res.head), f"{res.head_diff:.2e}"])
    rows.append(["metadata", str(res.metadata), ""])
    print_table("fertk export: parity vs PyTorch (max abs diff of probabilities)",
                ["part", "file", "max |Δp|"], rows)
    click.echo(f"ok: run it with `fertk run SOURCE --weights {Path(res.model)}`", file=sys.stderr)


@hookimpl
def register_commands(cli):
    cli.add_command(run_command)
    cli.add_command(export_command)
