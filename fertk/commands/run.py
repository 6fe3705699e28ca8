"""CLI commands: ``fertk run`` (expressions in images, folders, videos, webcams) and ``fertk export``.

Both are thin layers over :mod:`fertk.pipeline` and :mod:`fertk.export`; heavy modules are
imported inside the command bodies so ``fertk --help`` stays light.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fertk.clitools import (
    component_option,
    console,
    device_option,
    parse_options,
    print_json,
    print_table,
    progress_bar,
)
from fertk.errors import FertkError
from fertk.hookspecs import hookimpl


@click.command("run")
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@component_option("--detector", kind="detectors", default=None,
                  help="Face detector [default: the weights' suggestion, else dlib].")
@click.option("--detector-option", "detector_opts", multiple=True, metavar="KEY=VALUE",
              help="Detector option, repeatable (e.g. upsample=0, max_side=640).")
@component_option("--crop", kind="crops", default=None,
                  help="Crop policy; must match the one the weights were trained with.")
@component_option("--backbone", kind="backbones", default=None,
                  help="Frame model; needs trained weights (registered or --weights).")
@click.option("--weights", default=None, metavar="CHECKPOINT|NAME|FILE.onnx",
              help="Trained checkpoint, registered weight name (fertk weights list) or exported "
                   "ONNX model [default: the bundled minixception-fer2013].")
@component_option("--temporal", kind="temporal", default=None,
                  help="Temporal head per track (gru needs a checkpoint that holds one).")
@click.option("--engine", default="auto", show_default=True,
              help="auto (onnxruntime on the CPU when installed, else torch), torch, onnxruntime, "
                   "or a variant of fertk.engines (channels_last, torchscript, int8_dynamic, ...).")
@device_option()
@click.option("--detect-every", type=click.IntRange(min=1), default=5, show_default=True,
              help="Video: detect every N processed frames (fast, around each tracked face), "
                   "landmark optical flow in between.")
@click.option("--scan-every", type=click.IntRange(min=1), default=None,
              help="Video: full-quality detection of the whole frame every N processed frames "
                   "[about 1 s of video]; --detect-every 1 --scan-every 1 detects every frame "
                   "at full quality.")
@click.option("--smooth", "smoothing", type=click.FloatRange(min=0), default=None,
              metavar="SECONDS",
              help="Video: time constant of the per-track moving average of the probabilities; "
                   "0 turns it off [0.3 without a temporal head, else 0].")
@click.option("--stride", type=click.IntRange(min=1), default=1, show_default=True,
              help="Process every N-th frame only.")
@click.option("--window", type=click.IntRange(min=1), default=9, show_default=True,
              help="Latest sampled frames per track given to the temporal head.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="fertk-run",
              show_default=True, help="Output folder.")
@click.option("--annotate/--no-annotate", default=True, show_default=True,
              help="Write an annotated video (annotated images for stills).")
@click.option("--timeline/--no-timeline", default=True, show_default=True,
              help="Write a PNG of the probabilities over time per video.")
@click.option("--csv/--no-csv", "write_csv", default=True, show_default=True)
@click.option("--jsonl/--no-jsonl", default=True, show_default=True)
@click.option("--landmarks", is_flag=True, help="Add landmarks to the CSV/JSONL.")
@click.option("--image-sequence", is_flag=True,
              help="Images of one folder/glob are frames of one clip (tracked, temporal head).")
@click.option("--fps", type=float, default=None, help="Frame rate of image sequences [30].")
@click.option("--max-frames", type=click.IntRange(min=1), default=None,
              help="Stop each source after N processed frames (webcams).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Parallel worker processes when there are several videos.")
@click.option("--shard", default=None, metavar="I/N",
              help="Process only part I of N (0 <= I < N) of the sources: one share per machine "
                   "or array task, e.g. --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Torch/onnxruntime threads per process.")
@click.option("--json", "as_json", is_flag=True, help="Print the summaries as JSON.")
def run_command(sources, detector, detector_opts, crop, backbone, weights, temporal, engine,
                device, detect_every, scan_every, smoothing, stride, window, batch_size, out_dir, annotate, timeline, write_csv,
                jsonl, landmarks, image_sequence, fps, max_frames, workers, shard, threads,
                as_json):
    """Recognise facial expressions in SOURCE... (images, folders, globs, videos, webcam index).

    Writes per source into --out: NAME.csv (one row per frame and face; frames without a
    face have faces=0), NAME.jsonl, NAME.tracks.csv (per-track dominant expression and time
    in each), NAME.summary.json, NAME.annotated.mp4 and NAME.timeline.png.

    \b
    Examples:
      fertk run clip.mp4
      fertk run clip.mp4 --detector dlib --weights my_compact_gru --temporal gru
      fertk run 0 --max-frames 300            # webcam 0
      fertk run videos/ --workers 2 --shard 0/4
    """
    from fertk.io.video import expand_sources
    from fertk.io.video import shard as take_shard
    from fertk.pipeline import OutputOptions, Pipeline

    items = take_shard(expand_sources(list(sources), image_sequence=image_sequence), shard)
    config = dict(
        detector=detector, crop=crop, backbone=backbone, temporal=temporal, weights=weights,
        engine=engine, device=device, detect_every=detect_every, scan_every=scan_every,
        smoothing=smoothing, stride=stride, window=window,
        batch_size=batch_size, image_sequence=image_sequence, fps=fps, threads=threads,
        detector_options=parse_options(detector_opts, "--detector-option") or None,
    )
    options = OutputOptions(csv=write_csv, jsonl=jsonl, annotate=annotate, timeline=timeline,
                            landmarks=landmarks, max_frames=max_frames)
    err = console(stderr=True)
    if not items:
        err.print(f"shard {shard}: no source to process")
        return
    pipe = Pipeline(**config)  # builds and checks the model once, before any work starts
    parts = pipe.describe()
    smooth = f", smoothing {parts['smoothing']:g} s" if parts["smoothing"] else ""
    err.print(f"fertk run: {len(items)} source(s); detector {parts['detector']}, crop "
              f"{parts['crop']}, model {parts['weights']} ({parts['engine']} on "
              f"{parts['device']}{smooth}), classes {', '.join(parts['classes'])}")
    if workers > 1 and len(items) > 1:
        results = _run_parallel(config, items, out_dir, options, workers, err)
    else:
        results = [_run_one(pipe, it, out_dir, options, err, say_error=len(items) > 1)
                   for it in items]
    _report(results, as_json, out_dir)


def _run_one(pipe, item, out_dir, options, err, say_error=True):
    from fertk.pipeline import run_job

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
        result = run_job(pipe, item, out_dir, options, progress=PlainProgress(item.name, total))
    else:
        with progress_bar("{task.fields[fps]}", console_=err, transient=False) as prog:
            task = prog.add_task(item.name, total=total, fps="")

            def tick(n):
                prog.advance(task, n)
                speed = prog.tasks[task].speed
                if speed:
                    prog.update(task, fps=f"{speed:.1f} fps")

            result = run_job(pipe, item, out_dir, options, progress=tick)
    if result.get("error"):
        if say_error:  # a lone source's error is the run's one error line (_report)
            err.print(f"[red]error[/red] {result['error']}")
    elif result.get("video_codec"):
        err.print(f"{item.name}: annotated video {result['files'].get('video')} "
                  f"({result['video_codec']})", markup=False, highlight=False)
    return result


class PlainProgress:
    """``progress(n)`` callback printing ``NAME: done/total frames (p%), fps, ETA`` to stderr
    at most every ``interval`` seconds (and once at the end of the source)."""

    def __init__(self, name: str, total: int | None, interval: float = 5.0):
        import time

        self.name, self.total, self.interval = name, total, float(interval)
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
            return f"{self.name}: {self.done} frames, {fps:.1f} fps"
        left = max(self.total - self.done, 0) / fps if fps > 0 else 0.0
        return (f"{self.name}: {self.done}/{self.total} frames "
                f"({100.0 * self.done / self.total:.0f}%), {fps:.1f} fps, ETA {left:.0f} s")


def _run_parallel(config, items, out_dir, options, workers, err):
    from fertk.pipeline import run_jobs

    with progress_bar(description="sources", console_=err, disable=not err.is_terminal) as prog:
        task = prog.add_task("sources", total=len(items))

        def done(res):
            prog.advance(task)
            if not err.is_terminal:  # a log: one plain line per finished source
                click.echo(f"{res['name']}: done ({int(prog.tasks[task].completed)}/{len(items)} "
                           f"sources, {res.get('frames', 0)} frames)", err=True)
            if res.get("error"):
                err.print(f"[red]error[/red] {res['name']}: {res['error']}")
                if res.get("traceback"):
                    err.print(res["traceback"], markup=False, highlight=False)

        return run_jobs(config, items, out_dir, options, workers=workers, on_done=done)


def _report(results, as_json, out_dir):
    from fertk.io.outputs import summary_rows

    failed = [r for r in results if r.get("error")]
    if len(failed) == len(results) == 1 and not as_json:
        raise FertkError(failed[0]["error"])  # nothing ran: no table, just why
    if as_json:
        print_json(results)
    else:
        cols, rows = summary_rows(results)
        print_table(f"fertk run: expressions per track (files in {out_dir})", cols, rows)
        skipped = sum(r.get("skipped_frames", 0) for r in results)
        nofaces = sum(r.get("frames_without_face", 0) for r in results)
        frames = sum(r.get("frames", 0) for r in results if not r.get("error"))
        console().print(f"{len(results) - len(failed)}/{len(results)} source(s) done, {frames} "
                        f"frame(s), {nofaces} without a face, {skipped} unreadable frame(s) "
                        "skipped")
    for r in results:
        if r.get("missing_frames"):
            read = r["declared_frames"] - r["missing_frames"]
            console(stderr=True).print(
                f"warning: {r['name']}: the video ends after {read} of the {r['declared_frames']} "
                "frames its header declares (truncated file?); the results cover those frames",
                markup=False, highlight=False, soft_wrap=True)
    if failed:
        names = ", ".join(r["name"] for r in failed[:5])
        rest = "the others completed" if len(failed) < len(results) else "none completed"
        raise FertkError(f"{len(failed)} of {len(results)} source(s) failed ({names}); {rest}")


@click.command("export")
@click.argument("checkpoint", metavar="CHECKPOINT")
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Output base path (writes OUT.onnx, OUT.json) [default: beside the checkpoint].")
@click.option("--with-head", is_flag=True, help="Also export the temporal head (OUT.head.onnx).")
@click.option("--opset", type=int, default=17, show_default=True)
@click.option("--atol", type=float, default=1e-4, show_default=True,
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
