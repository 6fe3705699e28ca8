"""``fertk eval``: a trained checkpoint on a data set → accuracy, UAR, macro-F1 and reports.

The data set is prepared with the checkpoint's own detector and crop policy (overridable;
a pre-cropped data set such as FER2013 keeps its own, the whole image), its test-time
illumination normalisation is applied, and its class names are matched to the data set's by
name (rows of other classes are counted and left out). A row in which no face was found
counts as wrong, and the report says how many there were. With a temporal head, sequences
are evaluated too (per-frame outputs resampled to the head's length).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fertk.errors import FertkError
from fertk.training.arrays import ArraySet, as_array_set, illuminate, sequence_groups
from fertk.training.metrics import compute_metrics
from fertk.training.reports import write_json, write_metric_report

#: What each evaluated stage is, in report titles.
STAGE_LABELS = {"frame": "frame model", "sequence": "sequence (temporal head)"}


def remap_to(ds: ArraySet, classes: list[str]) -> tuple[np.ndarray, dict[str, int]]:
    """Labels of ``ds`` in ``classes`` order (-1 where the class is unknown) and drop counts."""
    from fertk.splits import remap_labels

    labels = remap_labels(ds.labels, ds.classes, classes)
    dropped = {c: int((ds.labels == i).sum()) for i, c in enumerate(ds.classes) if c not in classes}
    return labels, {k: v for k, v in dropped.items() if v}


def evaluate(
    checkpoint: str | Path, data: Any, out: str | Path | None = None, *, frames: str = "peak",
    device: str = "auto", batch: int = 256, title: str | None = None, context: Any = None,
) -> dict[str, Any]:
    """Evaluate ``checkpoint`` on prepared ``data``; writes reports into ``out`` if given.
    Weight names, the model's components and its illumination come from ``context``'s
    registries (default: the default plugin context)."""
    import torch

    from fertk.checkpoint import build_from_checkpoint, load_checkpoint
    from fertk.models.sequence import input_kind
    from fertk.training.batching import BatchPipeline
    from fertk.training.distributed import resolve_device
    from fertk.training.stages import predict, sequence_outputs

    ckpt = load_checkpoint(checkpoint, context=context)
    backbone, head = build_from_checkpoint(ckpt, context)
    dev = resolve_device(device)
    backbone.to(dev).eval()
    ds = as_array_set(data)
    classes = ckpt.classes
    labels, dropped = remap_to(ds, classes)
    if not (labels >= 0).any():
        raise FertkError(f"{ckpt.label}: none of the data set's classes ({', '.join(ds.classes)}) "
                         f"is among the checkpoint's ({', '.join(classes)})")
    ill = ckpt.metadata.get("illumination") or "none"
    crops = illuminate(ds.crops, ill, context=context)
    pipe = BatchPipeline(ckpt.input_spec, None, dev)
    mask = labels >= 0
    if frames == "peak":
        mask &= ds.peak
    rows = np.flatnonzero(mask)
    found = np.ones(len(labels), bool) if ds.found is None else np.asarray(ds.found, bool)
    train_meta = ckpt.metadata.get("train") or {}
    report: dict[str, Any] = {
        "checkpoint": str(ckpt.path), "classes": classes, "illumination": ill,
        "selection": train_meta.get("selection", "unknown"), "data_hash": ds.key,
        "dropped_rows_by_class": dropped, "frames": frames,
    }
    pred = np.full(rows.size, -1, np.int64)  # -1: no face found in the row, counted as wrong
    seen = found[rows]
    if seen.any():
        with torch.no_grad():
            logits = predict(backbone, pipe.test, np.asarray(crops[rows[seen]]), batch=batch)
        pred[seen] = logits.argmax(1).numpy()
    report["frame"] = compute_metrics(labels[rows], pred, classes)
    report["rows_without_face"] = int((~seen).sum())
    if head is not None:
        ds_l = ArraySet(crops=crops, labels=labels, subjects=ds.subjects, sequences=ds.sequences,
                        frame_index=ds.frame_index, peak=ds.peak, classes=classes, key=ds.key)
        every = sequence_groups(ds_l)
        groups = sequence_groups(ds_l, np.flatnonzero(found))  # frames with a face
        seq_pred = np.full(len(every), -1, np.int64)  # a sequence without any face: wrong
        if groups:
            t = int(getattr(head, "seq_len", None) or 9)
            feats = input_kind(head) == "features"
            x = sequence_outputs(backbone, [pipe.test], crops, groups, t, features=feats,
                                 batch=batch)[0]
            head.to(dev).eval()
            with torch.no_grad():
                seq_logits = head(x.to(dev)).float().cpu()
            got = dict(zip(groups, seq_logits.argmax(1).numpy().tolist(), strict=True))
            seq_pred = np.asarray([got.get(k, -1) for k in every], np.int64)
        if every:
            seq_labels = np.asarray([labels[g[-1]] for g in every.values()])
            report["sequence"] = compute_metrics(seq_labels, seq_pred, classes)
    if out is not None:
        out = Path(out)
        path = Path(str(ckpt.path))
        label = title or ckpt.name or f"{path.parent.name}/{path.stem}"
        for stage in ("frame", "sequence"):
            if stage in report:
                m = report[stage]
                write_metric_report(out, report[stage], stem=stage,
                                    title=f"{label}: {STAGE_LABELS[stage]}, n = {m['n']}, accuracy "
                                          f"{100 * m['accuracy']:.2f} %, UAR {100 * m['uar']:.2f} % "
                                          f"(selection: {report['selection']})",
                                    extra={"checkpoint": report["checkpoint"],
                                           "selection": report["selection"], "stage": stage})
        write_json(out / "report.json", report)
    return report


def test_rows(meta: dict[str, Any], ds: ArraySet, dataset: str) -> tuple[np.ndarray, str] | None:
    """Rows of ``ds`` that the checkpoint was tested on, and what they are; None if unknown.

    Known when the checkpoint's metadata names the data set it was trained on (the same
    registry name as ``dataset``) and its test part: a split name (protocol ``standard``,
    e.g. FER2013's PrivateTest, matched on ``<split>/<id>`` subject ids) or test subjects.
    """
    train = meta.get("train") or {}
    if not isinstance(train, dict) or str(train.get("dataset") or "") != dataset:
        return None
    subjects = np.asarray(ds.subjects).astype(str)
    if train.get("test_split"):
        split = str(train["test_split"])
        return np.flatnonzero(np.char.startswith(subjects, split + "/")), f"the {split} split"
    if train.get("test_subjects"):
        test = np.asarray([str(x) for x in train["test_subjects"]])
        return np.flatnonzero(np.isin(subjects, test)), f"its {len(test)} test subjects"
    return None


def standard_test_rows(data: Any, ds: ArraySet) -> tuple[np.ndarray, str] | None:
    """Rows of the data set's standard test split (``standard_test`` of its class, e.g.
    FER2013's ``PrivateTest``, matched on ``<split>/<id>`` subject ids) and what they are;
    ``None`` when it has none."""
    split = getattr(data, "standard_test", None)
    if not split:
        return None
    subjects = np.asarray(ds.subjects).astype(str)
    name = getattr(data, "name", "the data set")
    return (np.flatnonzero(np.char.startswith(subjects, f"{split}/")),
            f"the {split} split ({name}'s standard test split; --rows all scores every row)")


def split_rows(ds: ArraySet, splits: str | Path, fold: str | int) -> tuple[np.ndarray, str]:
    """Rows of the test subjects of fold ``fold`` (name, or 1-based number) of a split file."""
    from fertk.splits import load_splits

    folds = load_splits(splits)
    names = [f.name for f in folds]
    key = str(fold)
    pick = next((f for f in folds if f.name == key), None)
    if pick is None and key.isdigit() and 1 <= int(key) <= len(folds):
        pick = folds[int(key) - 1]
    if pick is None:
        raise FertkError(f"--fold {fold}: {splits} has no such fold (its folds: {', '.join(names)}; "
                         f"or a number 1..{len(folds)})")
    subjects = np.asarray(ds.subjects).astype(str)
    return (np.flatnonzero(np.isin(subjects, np.asarray(list(pick.test), dtype=str))),
            f"the test subjects of fold {pick.name} of {splits} ({len(pick.test)})")


def default_out_dir(checkpoint: str | Path, dataset: str) -> Path:
    """``eval-<dataset>-<fold>-<stage>`` for a run's checkpoint (``eval-<dataset>-<name>`` for
    registered weights), numbered ``-2``, ``-3``… so that it never overwrites an earlier one."""
    p = Path(str(checkpoint))
    stem = p.stem if p.suffix in (".safetensors", ".json") else p.name
    parts = [p.parent.name, stem] if p.parent != Path(".") else [stem]
    base = "-".join(["eval", dataset, *parts])
    out, n = Path(base), 2
    while out.exists():
        out, n = Path(f"{base}-{n}"), n + 1
    return out


def evaluate_dataset(
    checkpoint: str | Path, dataset: str, root: str | Path, out: str | Path | None = None, *,
    detector: str | None = None, crop: str | None = None, cache_dir: str | None = None,
    workers: int = 2, progress: bool = True, frames: str = "peak", device: str = "auto",
    rows: str = "test", crop_options: dict[str, Any] | None = None,
    splits: str | Path | None = None, fold: str | int | None = None, context: Any = None,
    **dataset_options: Any,
) -> dict[str, Any]:
    """Prepare ``dataset`` at ``root`` with the checkpoint's preprocessing, then :func:`evaluate`.

    ``rows="test"`` (default) scores only the rows the checkpoint was tested on when its
    metadata says which (:func:`test_rows`), so the number is the one it reports, else the
    data set's standard test split when it has one (:func:`standard_test_rows`: FER2013's
    PrivateTest); ``rows="all"`` scores every row, including any it was trained on
    (``report["warning"]`` counts them); ``splits`` + ``fold`` score the test subjects of that
    fold of a split file. Rows in which no face was found count as wrong
    (``report["rows_without_face"]``).

    Preprocessing: on the data set it was trained on, or on pre-cropped faces when it was
    trained on pre-cropped faces (FER2013's and FER+'s are the same images), the checkpoint's
    training detector and crop (``train.preprocessing``; e.g. FER2013's whole image); on a
    pre-cropped data set
    (its ``default_detector`` is ``none``: FER2013) the data set's own, the whole image;
    elsewhere the checkpoint's run-time ``detector`` and ``crop``. ``detector``, ``crop`` and
    ``crop_options`` override them.
    """
    from fertk.checkpoint import load_checkpoint
    from fertk.data import prepare
    from fertk.faces import layered_crop
    from fertk.plugins import get_registry
    from fertk.training.arrays import subset

    if rows not in ("test", "all"):
        raise FertkError(f"rows must be 'test' or 'all' (got {rows!r})")
    if (splits is None) != (fold is None):
        raise FertkError("--splits and --fold go together: the split file and the fold whose "
                         "test subjects to score")
    meta = load_checkpoint(checkpoint, context=context).metadata
    train = meta.get("train") if isinstance(meta.get("train"), dict) else {}
    from fertk.synth import data_name

    data_label = data_name(dataset, root)  # "synth" for fertk synth output, as training recorded it
    data = get_registry("datasets", context).create(dataset, root=root, **dataset_options)
    prep = train.get("preprocessing") or {}
    same_framing = str(train.get("dataset") or "") == data_label or (
        getattr(data, "default_detector", None) == "none" and prep.get("detector") == "none")
    prep = prep if same_framing else {}  # pre-cropped faces (FER2013, FER+) framed as in training
    own_crop = not prep and getattr(data, "default_detector", None) == "none" and \
        detector in (None, "none")  # pre-cropped faces: the data set's own, the whole image
    if own_crop:
        prep = {"detector": "none"}
    crop_name, crop_opts = layered_crop({} if own_crop else (prep.get("crop") or meta.get("crop")),
                                        crop, crop_options)
    prepared = prepare(
        data, detector=detector or prep.get("detector") or meta.get("detector"),
        crop=crop_name, crop_options=crop_opts or None,
        cache_dir=cache_dir, workers=workers, progress=progress, context=context,
    )
    ds = as_array_set(prepared)
    scope = f"every row ({len(ds.labels)})"
    warning = None
    own = test_rows(meta, ds, data_label)
    standard = standard_test_rows(data, ds) if own is None and rows == "test" else None
    if standard is not None and not standard[0].size:
        warning = f"the data set at {root} holds no rows of {standard[1]}: every row is scored"
        standard = None
    part = split_rows(ds, splits, fold) if splits is not None else \
        (own or standard) if rows == "test" else None
    if own is not None:
        outside = np.setdiff1d(part[0] if part is not None else np.arange(len(ds.labels)), own[0])
        if outside.size:
            warning = (f"{outside.size} of the scored rows are not in the checkpoint's test part "
                       f"({own[1]}): it was trained or selected on them")
    if part is not None:
        picked, what = part
        if not picked.size:
            raise FertkError(f"{checkpoint}: the data set at {root} holds none of the checkpoint's "
                             f"test rows ({what}); pass --rows all to score every row")
        scope = f"{what} ({picked.size} of {len(ds.labels)} rows)"
        ds = subset(ds, picked)
    report = evaluate(checkpoint, ds, out, frames=frames, device=device, context=context)
    report["dataset"] = {"name": dataset, "root": str(root), "rows": scope,
                         "detector": prepared.options["detector"], "crop": prepared.options["crop"],
                         "frames_without_face": int((~np.asarray(prepared.found)).sum())}
    if warning:
        report["warning"] = warning
    if out is not None:
        write_json(Path(out) / "report.json", report)
    return report
