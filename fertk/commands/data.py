"""CLI commands of the data area: ``fertk prepare``, ``fertk synth`` and ``fertk splits``."""

from __future__ import annotations

from typing import Any

import click

from fertk.clitools import (
    AliasOption,
    ComponentType,
    DetectorChoice,
    component_option,
    crop_options_option,
    dataset_options_option,
    detector_options_option,
    json_option,
    parse_options,
    print_json,
    print_table,
    workers_option,
)
from fertk.faces import BOX_CROP, DEFAULT_CROP, DEFAULT_DETECTOR
from fertk.hookspecs import hookimpl


def not_found_paths(ps: Any) -> list[str]:
    """The frames of a prepared set without a face crop (``found`` false: no face, unreadable,
    no landmarks, crop failed): the paths the summary's ``no_face`` counts (docs/data.md)."""
    paths = ps.meta.get("paths") or []
    return sorted({str(p) for p, found in zip(paths, ps.found, strict=False) if not found})


@click.command("prepare")
@click.argument("dataset", type=ComponentType("datasets"), metavar="DATASET")
@click.option("--root", required=True, type=click.Path(), help="Folder of the data set.")
@click.option("--detector", "-d", type=DetectorChoice(), default=None,
              help="Detector name, 'dataset' (landmarks shipped with the data, e.g. CK+ Landmarks/) "
                   f"or 'none' (whole image). Default: the data set's ({DEFAULT_DETECTOR}; none "
                   "for fer2013).")
@component_option("--crop", "-c", kind="crops", default=None, show_default=False,
                  help=f"Crop policy (default {DEFAULT_CROP}; {BOX_CROP} with --detector none).")
@workers_option(help="Parallel processes that detect and crop.")
@click.option("--cache-dir", type=click.Path(), default=None,
              help="Cache folder (default <cache>/prepared, <cache> = $FERTK_CACHE_DIR, "
                   "else $XDG_CACHE_HOME/fertk, else ~/.cache/fertk).")
@dataset_options_option(example="-o mode=peak -o neutral=true -o classes=anger,happy")
@detector_options_option("det_options")
@crop_options_option("crop_options")
@click.option("--rebuild", is_flag=True, help="Ignore an existing cache and rebuild it.")
@json_option(help="Print the summary as JSON on stdout.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def prepare_command(dataset, root, detector, crop, workers, cache_dir, options, det_options,
                    crop_options, rebuild, as_json, quiet):
    """Detect and crop every frame of DATASET once, into a cache that later runs reuse.

    \b
    Examples:
      fertk prepare ckplus --root ~/data/CK+
      fertk prepare ckplus --root ~/data/CK+ --detector dataset -o mode=peak
      fertk prepare fer2013 --root ~/data/fer2013
    """
    from fertk.data import prepare

    ps = prepare(dataset, root, detector=detector, crop=crop, cache_dir=cache_dir, workers=workers,
                 progress=not quiet and not as_json, rebuild=rebuild,
                 detector_options=parse_options(det_options, "--detector-option"),
                 crop_options=parse_options(crop_options, "--crop-option"),
                 **parse_options(options, "--option"))
    summary = ps.summary()
    report = {k: (v["count"] if isinstance(v, dict) and "count" in v else v)
              for k, v in ps.report.items() if k != "dataset"}
    from fertk.datasets.base import report_lines

    skipped = ps.report.get("dataset", {})
    ds_report = {k: v["count"] for k, v in skipped.items()}
    if as_json:
        print_json({**summary, "report": report, "dataset_report": ds_report,
                    "dataset_skipped": {k: v.get("examples", []) for k, v in skipped.items()},
                    "no_face_paths": not_found_paths(ps)})
        return
    opts = ps.options
    built = "hit" if ps.cache_hit else f"built in {ps.meta['build']['seconds']} s"
    rows = [
        ["data set", f"{summary['dataset']} ({ps.meta['root']})"],
        ["detector / crop", f"{opts['detector']} / {opts['crop']}"],
        ["frames", summary["frames"]],
        ["faces found", f"{summary['faces_found']} / {summary['frames']}"],
        ["subjects / sequences", f"{summary['subjects']} / {summary['sequences']}"],
        ["peak frames per class", ", ".join(f"{k} {v}" for k, v in summary["classes"].items())],
        ["skipped by the data set", ", ".join(f"{k} {v}" for k, v in ds_report.items()) or "none"],
        ["problems", ", ".join(f"{k} {v}" for k, v in report.items() if v) or "none"],
        ["cache", f"{summary['cache']} ({built})"],
    ]
    print_table("prepared", ["", ""], rows)
    lines = report_lines(skipped)
    if lines:
        click.echo("skipped by the data set:\n" + "\n".join(lines), err=True)
    for status in ("no_face", "unreadable", "no_landmarks", "crop_failed"):
        paths = ps.report.get(status, {}).get("paths", [])
        if paths:
            shown = "\n  ".join(paths[:10])
            more = f"\n  … {len(paths) - 10} more in {ps.path / 'meta.json'}" if len(paths) > 10 else ""
            click.echo(f"{status} ({len(paths)}):\n  {shown}{more}", err=True)


@click.command("synth")
@click.argument("out", type=click.Path())
@click.option("--identities", type=click.IntRange(1, 10000), default=20, show_default=True)
@click.option("--frames", type=click.IntRange(2, 1000), default=10, show_default=True,
              help="Frames per sequence (onset → apex); the shortest with --sequence-length.")
@click.option("--sequence-length", "--max-frames", "sequence_length", cls=AliasOption,
              hidden_aliases=("--max-frames",), type=click.IntRange(2, 1000), default=None,
              metavar="N",
              help="Longest sequence: each sequence's length is drawn in [--frames, N] "
                   "[default: all --frames long].")
@click.option("--size", type=click.IntRange(128, 2048), default=256, show_default=True,
              help="Image side in pixels.")
@click.option("--motion", is_flag=True,
              help="Classes carried by motion: ordered pairs of poses (6 classes).")
@click.option("--layout", type=click.Choice(["both", "ckplus", "folder"]), default="both",
              show_default=True)
@click.option("--unlabelled", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Fraction of extra sequences written without an Emotion file (as in CK+).")
@click.option("--lighting", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help="Lighting variation (0 = frontal light only).")
@click.option("--seed", type=int, default=0, show_default=True)
def synth_command(out, identities, frames, sequence_length, size, motion, layout, unlabelled,
                  lighting, seed):
    """Write synthetic expression sequences to OUT in the CK+ and folder layouts.

    \b
    OUT/cohn-kanade-images/, OUT/Emotion/, OUT/Landmarks/   (CK+ official layout)
    OUT/folder/<class>/<subject>_<sequence>/frame_####.png   (folder layout)
    OUT/synth.json                                           (classes, per-sequence truth)
    """
    from fertk.clitools import console
    from fertk.synth import SynthConfig, synthesize

    layouts = ("ckplus", "folder") if layout == "both" else (layout,)
    cfg = SynthConfig(identities=identities, frames=frames, max_frames=sequence_length, size=(size, size),
                      motion=motion, layouts=layouts, unlabelled=unlabelled, lighting=lighting, seed=seed)
    from rich.progress import Progress

    with Progress(console=console(stderr=True), transient=True) as bar:
        task = bar.add_task("synth", total=None)
        manifest = synthesize(out, cfg, progress=lambda d, t: bar.update(task, completed=d, total=t))
    seqs = manifest["sequences"]
    labelled = [s for s in seqs if s["label"] is not None]
    rows = [[c, sum(1 for s in labelled if s["label"] == c), manifest["ckplus_codes"][c]]
            for c in manifest["classes"]]
    print_table(f"synth: {identities} identities, {len(seqs)} sequences "
                f"({len(seqs) - len(labelled)} unlabelled), {sum(s['frames'] for s in seqs)} frames "
                f"→ {out}", ["class", "sequences", "CK+ code"], rows)


@click.command("splits")
@click.argument("dataset", type=ComponentType("datasets"), metavar="DATASET")
@click.option("--root", required=True, type=click.Path())
@click.option("--protocol", type=click.Choice(["kfold", "loso"]), default="kfold", show_default=True)
@click.option("-k", "--folds", "k", type=click.IntRange(2, 1000), default=10, show_default=True)
@click.option("--val-fraction", type=click.FloatRange(0, 0.9), default=0.1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@dataset_options_option()
@click.option("--out", "out", type=click.Path(), required=True, help="Split file to write (JSON).")
def splits_command(dataset, root, protocol, k, val_fraction, seed, options, out):
    """Write a subject-independent split file of DATASET (the paper's 10-fold by default).

    Reads only the folder structure and labels (no images, no cache).
    """
    import fertk
    from fertk import splits

    ds = fertk.create("datasets", dataset, root=root, **parse_options(options, "--option"))
    subjects = [s.subject for s in ds.samples() if s.label is not None and s.label >= 0]
    folds = (splits.subject_kfold(subjects, k) if protocol == "kfold"
             else splits.leave_one_subject_out(subjects))
    folds = splits.with_validation(folds, val_fraction, seed)
    path = splits.save_splits(out, folds, dataset=dataset, root=str(root), protocol=protocol, k=k,
                              val_fraction=val_fraction, seed=seed, classes=ds.classes)
    rows = [[f.name, len(f.train), len(f.val), len(f.test), ", ".join(list(f.test)[:4])
             + (" …" if len(f.test) > 4 else "")] for f in folds]
    print_table(f"{len(folds)} folds → {path}", ["fold", "train", "val", "test", "test subjects"], rows)
    from fertk.datasets.base import report_lines

    lines = report_lines(ds.report)
    if lines:
        click.echo("skipped by the data set (not in any fold):\n" + "\n".join(lines), err=True)


@hookimpl
def register_commands(cli):
    cli.add_command(prepare_command)
    cli.add_command(synth_command)
    cli.add_command(splits_command)
