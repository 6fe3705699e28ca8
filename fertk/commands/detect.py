"""CLI command ``fertk detect``: faces, landmarks and crops of images, folders and videos.

Shows what the preprocessing stage does: which faces the detector finds, where their
landmarks are, and the normalised crops the network would see. Heavy modules (cv2, dlib)
are imported inside the command.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from fertk.clitools import (
    component_option,
    console,
    crop_options_option,
    detector_options_option,
    is_tty,
    json_file_option,
    parse_options,
    progress_bar,
    recursive_option,
    stride_option,
)
from fertk.errors import FertkError
from fertk.faces import BOX_CROP, DEFAULT_CROP, DEFAULT_DETECTOR
from fertk.hookspecs import hookimpl


@dataclass
class SourceStats:
    """Counts for one input file (an image or a video) for the summary table."""

    source: str
    kind: str = "image"
    frames: int = 0
    faces: int = 0
    no_face: int = 0
    crops: int = 0
    error: str | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _media_files(source: str, recursive: bool) -> dict[Path, str]:
    """Image and video files of ``source`` (sorted) and their kind (:mod:`fertk.io.video`'s
    discovery; ``recursive``: every sub-folder of a folder too)."""
    from fertk.io.video import expand_sources, is_webcam

    p = Path(source)
    if not str(source).strip():  # Path("") is the current folder
        expand_sources([source])  # the one error for an empty path
    if is_webcam(source) and not p.exists():
        raise FertkError(f"{source}: no such file or folder (webcams: fertk run {source})")
    folders = [p, *sorted(d for d in p.rglob("*") if d.is_dir())] if p.is_dir() and recursive else [p]
    seen: set[Path] = set()  # a folder reached twice (a symlink loop, a link to a sibling): once
    folders = [f for f in folders if f.resolve() not in seen and not seen.add(f.resolve())]
    items = []
    for folder in folders:
        try:
            items.extend(expand_sources([str(folder) if folder is not p else source]))
        except FertkError:
            if folder is p and len(folders) == 1:
                raise
            continue  # a sub-folder without media: the others may hold some
    if not items:
        raise FertkError(f"{source}: folder contains no image or video files")
    files: dict[Path, str] = {}
    real: set[Path] = set()  # each file once, by what it is (not by the path that reached it)
    for it in items:
        for f in (it.paths if it.kind == "images" else [it.source]):
            if Path(f).resolve() not in real:
                real.add(Path(f).resolve())
                files[Path(f)] = "video" if it.kind == "video" else "image"
    return dict(sorted(files.items()))


def _output_stem(path: Path, root: Path | None) -> str:
    """A file-name stem unique within one source: the path relative to the source folder."""
    if root is not None:
        try:
            rel = path.relative_to(root)
            return "__".join(rel.with_suffix("").parts)
        except ValueError:
            pass
    return path.stem


def _sources(sources: tuple[str, ...], recursive: bool) -> dict[Path, tuple[str, str]]:
    """Every media file of ``sources`` (in order, each once) → (kind, output stem); stems
    that two sources share (``a/x.jpg b/x.jpg``) become paths below their common folder."""
    import os

    files: dict[Path, tuple[str, str]] = {}
    for source in sources:
        root = Path(source) if Path(source).is_dir() else None
        for path, kind in _media_files(source, recursive).items():
            files.setdefault(path, (kind, _output_stem(path, root)))
    stems = [stem for _, stem in files.values()]
    clash = {s for s in stems if stems.count(s) > 1}
    if clash:
        common = Path(os.path.commonpath([str(p.resolve().parent) for p in files]))
        files = {p: (kind, "__".join(p.resolve().relative_to(common).with_suffix("").parts)
                     if stem in clash else stem) for p, (kind, stem) in files.items()}
    return files


class _Job:
    """Runs the face stage on frames and writes crops, annotations and JSON records."""

    def __init__(self, stage, annotate, save_crops, records, warn):
        self.stage = stage
        self.annotate = annotate
        self.save_crops = save_crops
        self.records = records
        self.warn = warn

    def frame(self, image, stats: SourceStats, stem: str, source: str, frame: int | None, t: float | None):
        from fertk.io.images import write_image

        faces = self.stage.faces(image)
        stats.frames += 1
        stats.faces += len(faces)
        if not faces:
            stats.no_face += 1
        record: dict[str, Any] = {"source": source}
        if frame is not None:
            record["frame"] = frame
            record["time"] = round(float(t or 0.0), 4)
        record["width"], record["height"] = int(image.shape[1]), int(image.shape[0])
        face_dicts = [face.to_dict() for face in faces]
        if self.save_crops is not None:
            def failed(i: int, exc: Exception) -> None:
                self.warn(f"{source}: face {i}: {exc}")

            for i, (d, crop) in enumerate(zip(face_dicts, self.stage.crops(image, faces, failed),
                                              strict=True)):
                if crop is None:
                    continue
                tag = f"_f{frame:06d}" if frame is not None else ""
                out = self.save_crops / f"{stem}{tag}_face{i}.png"
                write_image(out, crop.image)
                stats.crops += 1
                d["crop"] = str(out)
                d["crop_matrix"] = [[round(float(v), 6) for v in row] for row in crop.matrix]
        record["faces"] = face_dicts
        self.records.append(record)
        if self.annotate is not None:
            from fertk.draw import draw_faces

            labels = [f"{i}: {f.score:.2f}" for i, f in enumerate(faces)]
            return draw_faces(image, faces, labels=labels)
        return None


@click.command("detect")
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@component_option("--detector", "-d", kind="detectors", default=DEFAULT_DETECTOR, help="Face detector.")
@detector_options_option()
@component_option(
    "--crop", "-c", kind="crops", default=None, show_default=False,
    help=f"Crop policy for --save-crops [default: {DEFAULT_CROP}; {BOX_CROP} for box-only detectors].",
)
@crop_options_option()
@json_file_option(help="Per-image/per-frame records (faces, boxes, scores, landmarks) as JSON "
                       "on stdout (--json) or into FILE (--json FILE).")
@click.option("--annotate", "annotate_dir", type=click.Path(file_okay=False), is_flag=False,
              flag_value="fertk-detect", default=None, metavar="[DIR]",
              help="Write annotated copies (boxes, landmarks, scores) into DIR [fertk-detect]; "
                   "videos as MP4.")
@click.option("--save-crops", "crops_dir", type=click.Path(file_okay=False), default=None,
              help="Write each face's crop (PNG, 120x120 gray by default) into DIR.")
@click.option("--largest/--all", "largest", default=False, show_default=True,
              help="Keep only the largest face per image/frame, or all faces.")
@click.option("--min-size", type=float, default=0, show_default=True,
              help="Ignore faces whose box is smaller than this many pixels on its short side.")
@stride_option("every", aliases=("--every",))
@click.option("--max-frames", type=click.IntRange(1), default=None,
              help="Videos: stop after this many processed frames per video.")
@recursive_option()
@click.option("--strict", is_flag=True, help="Exit with status 1 if any file could not be read.")
def detect_command(sources, detector, crop, detector_opts, crop_opts, json_path, annotate_dir,
                   crops_dir, largest, min_size, every, max_frames, recursive, strict):
    """Detect faces and landmarks in each SOURCE: an image, a folder, a glob or a video
    (several, like fertk run: shell globs such as *.jpg expand to many).

    \b
    Examples:
      fertk detect photo.jpg --annotate out/
      fertk detect *.jpg clip.mp4 --json faces.json
      fertk detect faces/ --json faces.json --save-crops crops/
      fertk detect clip.mp4 --stride 5 --annotate out/ -D upsample=0
      fertk detect photo.jpg --detector opencv --crop box --save-crops crops/

    An unreadable file is reported on one line and the others are processed; images without
    faces are listed. A summary table ends the run.
    """
    from fertk.faces import FaceStage
    from fertk.fsutil import make_dir
    from fertk.io.images import read_image, write_image

    err = console(stderr=True)
    files = _sources(sources, recursive)
    dopts = parse_options(detector_opts, "--detector-option")
    dopts.setdefault("largest", largest)
    if min_size:
        dopts.setdefault("min_size", min_size)
    stage = FaceStage(detector, crop, detector_options=dopts, with_crops=crops_dir is not None,
                      crop_options=parse_options(crop_opts, "--crop-option"))
    annotate = make_dir(annotate_dir, "--annotate") if annotate_dir else None
    crops_out = make_dir(crops_dir, "--save-crops") if crops_dir else None

    records: list[dict[str, Any]] = []
    stats_list: list[SourceStats] = []

    def say(tag: str, style: str, msg: str) -> None:
        """One line on stderr, never wrapped (scripts grep these lines)."""
        from rich.text import Text

        target = progress.console if progress is not None else err
        target.print(Text.assemble((tag, style), " ", msg), soft_wrap=True, highlight=False)

    def warn(msg: str) -> None:
        say("warning:", "yellow", msg)

    progress = None

    job = _Job(stage, annotate, crops_out, records, warn)
    progress = progress_bar(console_=err, disable=not is_tty() or len(files) < 2, transient=True)
    with progress:
        task = progress.add_task("detect", total=len(files))
        for path, (kind, stem) in files.items():
            stats = SourceStats(source=str(path), kind=kind)
            stats_list.append(stats)
            start = time.perf_counter()
            try:
                if stats.kind == "video":
                    _run_video(job, path, stem, stats, every, max_frames, annotate)
                else:
                    image = read_image(path)
                    drawn = job.frame(image, stats, stem, str(path), None, None)
                    if drawn is not None:
                        write_image(annotate / f"{stem}.png", drawn)
            except FertkError as exc:
                stats.error = str(exc)
                records.append({"source": str(path), "error": str(exc), "faces": []})
                say("error:", "red", str(exc))
            except OSError as exc:  # writing crops or pictures (a full disk): stop in one line
                from fertk.fsutil import write_problem

                raise FertkError(f"{path}: {write_problem(exc, 'its pictures')}") from None
            stats.seconds = time.perf_counter() - start
            for note in stats.notes:
                warn(f"{path}: {note}")
            if stats.error is None and stats.kind == "image" and stats.faces == 0:
                say("no face:", "yellow", str(path))
            progress.advance(task)

    if json_path:
        _write_json(json_path, records)
    _summary(stats_list, to_stderr=json_path == "-")
    failed = [s for s in stats_list if s.error]
    if failed and (strict or len(failed) == len(stats_list)):
        raise click.exceptions.Exit(1)


def _run_video(job: _Job, path: Path, stem: str, stats: SourceStats, every: int,
               max_frames: int | None, annotate: Path | None) -> None:
    from fertk.fsutil import Staged
    from fertk.io.video import DecodeStats, MediaItem, VideoWriter, iter_frames

    decoded = DecodeStats()
    writer = None
    staged = Staged()  # the annotated video appears when complete (or Ctrl-C), never half-written
    try:
        for frame in iter_frames(MediaItem("video", str(path), stem), stride=every, stats=decoded,
                                 max_frames=max_frames):
            drawn = job.frame(frame.image, stats, stem, str(path), frame.index, frame.time)
            if drawn is not None:
                if writer is None:
                    writer = VideoWriter(staged.path(annotate / f"{stem}.mp4"),
                                         fps=(decoded.fps or 0) / every)
                writer.write(drawn)
    except OSError:  # a full disk: no half-written video under its name
        if writer is not None:
            writer.close()
        staged.discard()
        raise
    finally:
        if writer is not None and staged.files:
            writer.close()
            staged.commit()
    if decoded.missing:  # the stream ended before the frames its header declares
        stats.notes.append(f"the video ends after {decoded.frame_count - decoded.missing} of the "
                           f"{decoded.frame_count} frames its header declares (truncated file?); "
                           "the results cover those frames")


def _write_json(json_path: str, records: list[dict[str, Any]]) -> None:
    from fertk.fsutil import to_json, write_json, write_problem

    if json_path == "-":
        click.echo(to_json(records, indent=1))
        return
    try:
        write_json(json_path, records, indent=1)
    except OSError as exc:  # a read-only place, /proc, a full disk: one line
        raise FertkError(f"--json {json_path}: {write_problem(exc, 'the file')}") from None


def _summary(stats_list: list[SourceStats], to_stderr: bool) -> None:
    rows = []
    for s in stats_list:
        status = "error" if s.error else "truncated" if s.notes else \
            ("no face" if s.faces == 0 else "ok")
        rows.append([s.source, s.kind, s.frames, s.faces, s.no_face, s.crops, f"{s.seconds:.2f}", status])
    total = [
        f"total: {len(stats_list)} files", "", sum(s.frames for s in stats_list),
        sum(s.faces for s in stats_list), sum(s.no_face for s in stats_list),
        sum(s.crops for s in stats_list), f"{sum(s.seconds for s in stats_list):.2f}",
        f"{sum(1 for s in stats_list if s.error)} errors",
    ]
    cols = ["source", "kind", "frames", "faces", "no-face frames", "crops", "seconds", "status"]
    from fertk.clitools import console, print_table

    print_table("fertk detect", cols, rows + [total], no_wrap=("source",),
                drop=("seconds", "crops", "kind", "no-face frames", "frames"),
                right=("frames", "faces", "no-face frames", "crops", "seconds"),
                console_=console(stderr=to_stderr))


@hookimpl
def register_commands(cli):
    cli.add_command(detect_command)
