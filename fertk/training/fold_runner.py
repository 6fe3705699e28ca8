"""One fold of a training run (:class:`FoldRunner`): frame stage, test evaluation, sequence
stage, checkpoints. The list of folds itself comes from :mod:`fertk.training.folds`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fertk.errors import FertkError
from fertk.training.arrays import (
    ArraySet,
    Illuminated,
    eval_illumination,
    frame_rows,
    sequence_groups,
)
from fertk.training.batching import BatchPipeline
from fertk.training.config import fine_tune_plan
from fertk.training.folds import FoldSplit
from fertk.training.metrics import compute_metrics
from fertk.training.stages import (
    StageContext,
    StageResult,
    cpu_state,
    predict,
    run_frame_stage,
    run_sequence_stage,
    seed_for,
    sequence_outputs,
)


def amp_dtype_for(mode: str, device: torch.device) -> torch.dtype | None:
    if mode == "off":
        return None
    if mode == "fp16":
        return torch.float16 if device.type == "cuda" else None
    if mode == "bf16":
        return torch.bfloat16
    return torch.bfloat16 if device.type == "cuda" else None  # auto


def build_backbone(cfg: Any, num_classes: int, context: Any = None) -> torch.nn.Module:
    """The configured backbone, registered in ``context`` (default: the default plugin context)."""
    from fertk.plugins import get_registry

    opts = dict(cfg.model.backbone_options)
    opts["num_classes"] = num_classes
    model = get_registry("backbones", context).create(cfg.model.backbone, **opts)
    if cfg.frame.init == "xavier":
        from fertk.backbones.base import classifier_of, xavier_init

        head = classifier_of(model) if getattr(model, "pretrained_source", None) else None
        xavier_init(head[1] if head else model)  # pretrained (timm): only the new classifier
    return model


def cpu_channels_last(backbone: str, context: Any = None) -> bool:
    """Whether ``run.channels_last: auto`` trains ``backbone`` in NHWC on the CPU: where its
    registration says so (``channels_last=True``, set for the compact family, measured 1.2x
    (compact_tiny) to 1.8x (compact) faster on 2 cores by ``benchmarks/bench_train.py
    --sweep``). Not by default: torch 2.14's CPU backward crashes in NHWC for mini-Xception."""
    from fertk.plugins import get_registry

    try:
        return bool(get_registry("backbones", context).get(backbone).metadata.get("channels_last"))
    except Exception:  # noqa: BLE001 - an unknown name fails later with its own message
        return False


def deploy_form(backbone: torch.nn.Module) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The backbone's inference form and the options that rebuild it: ``backbone.deploy()``
    where the backbone defines one (a training-only reparameterisation, e.g. compact's
    ``batch_norm: fold``), else the backbone itself with its options unchanged."""
    deploy = getattr(backbone, "deploy", None)
    if not callable(deploy):
        return backbone, {}
    return deploy()


def predictions(labels: np.ndarray, predicted: np.ndarray) -> dict[str, list[int]]:
    """Test labels and predictions in test-row order (``fertk compare``'s bootstrap and McNemar)."""
    return {"labels": [int(v) for v in labels], "predicted": [int(v) for v in predicted]}


def init_backbone(cfg: Any, backbone: torch.nn.Module, classes: list[str],
                  expected: dict[str, Any] | None = None, context: Any = None
                  ) -> dict[str, Any] | None:
    """Load ``model.init_from`` (a registered weight name or a checkpoint) into ``backbone``.

    The source must hold the same backbone; every tensor outside the classifier
    (:func:`fertk.backbones.base.classifier_of`) must fit, else a one-line error names them.
    The classifier is loaded when the class lists are equal, its rows are mapped by class
    name where the class sets overlap (new classes keep their fresh rows), and it stays
    freshly initialised when they share no class. ``expected`` (``input_spec``, ``crop``,
    ``illumination`` of this run) is compared with the source's metadata. A weight name is
    looked up in ``context``'s registry (default: the default plugin context).

    Returns the provenance recorded in the checkpoint metadata under ``train.init_from``
    (source, registered name, path, sha256, the classifier's fate, input differences, the
    source's own ``init_from``), or None without a source.
    """
    src = cfg.model.init_from
    if not src:
        return None
    from fertk.backbones.base import classifier_of
    from fertk.checkpoint import check_compatible, load_checkpoint, sha256_file, state_mismatch
    from fertk.registry import UnknownComponentError

    where = f"model.init_from {src}"
    try:
        ckpt = load_checkpoint(src, context=context)
    except UnknownComponentError as exc:
        raise FertkError(f"{where}: {str(exc).rstrip('.')}; register trained weights first (e.g. "
                         "fertk train examples/configs/fer2013_compact.yaml, then fertk weights "
                         "import RUN/folds/standard/frame.safetensors --name NAME) or pass "
                         "--init NAME|CHECKPOINT") from exc
    check_compatible(ckpt, backbone=cfg.model.backbone, where=where)
    sd, own = ckpt.state_dicts["backbone"], backbone.state_dict()
    head = classifier_of(backbone)
    prefix = head[0] + "." if head else None
    in_head = [k for k in own if prefix and k.startswith(prefix)]
    body = {k: v for k, v in sd.items() if k not in in_head}
    bad = state_mismatch(body, {k: v for k, v in own.items() if k not in in_head})
    if bad:
        raise FertkError(f"{where}: its {ckpt.metadata['backbone']['name']} backbone does not fit the "
                         f"configured one ({bad}); source options {ckpt.metadata['backbone']['options']}, "
                         f"model.backbone_options {dict(cfg.model.backbone_options)}")
    src_classes = ckpt.classes
    if head is None and src_classes != list(classes):
        raise FertkError(f"{where}: class lists differ (source {src_classes}, data {list(classes)}) "
                         f"and the backbone names no classifier whose rows could be mapped")
    shared = [c for c in classes if c in src_classes]
    for key in in_head:
        have, new = sd.get(key), own[key]
        if have is None:
            raise FertkError(f"{where}: the source has no classifier tensor '{key}'")
        if have.shape[0] == len(src_classes) and new.shape[0] == len(classes) and have.shape[1:] == new.shape[1:]:
            rows = new.clone()
            for j, c in enumerate(classes):
                if c in src_classes:
                    rows[j] = have[src_classes.index(c)]
            body[key] = rows
        elif have.shape == new.shape:  # a classifier tensor without per-class rows
            body[key] = have
        else:
            raise FertkError(f"{where}: classifier tensor '{key}' {tuple(have.shape)} does not fit "
                             f"{tuple(new.shape)} (rows are classes: {len(src_classes)} vs {len(classes)})")
    backbone.load_state_dict(body, strict=True)
    mode = "loaded" if src_classes == list(classes) else "mapped" if shared else "reinitialised"
    record: dict[str, Any] = {
        "source": str(src), "name": ckpt.name, "path": str(ckpt.path), "sha256": sha256_file(ckpt.path),
        "backbone": ckpt.metadata["backbone"]["name"], "classes": src_classes,
        "dataset": (ckpt.metadata.get("train") or {}).get("dataset"),
        "classifier": {"mode": mode, "mapped": shared, "new": [c for c in classes if c not in shared]},
    }
    differences = source_differences(ckpt.metadata, expected or {})
    if differences:
        record["differences"] = differences
    lineage = (ckpt.metadata.get("train") or {}).get("init_from")
    if lineage:
        record["lineage"] = lineage
    return record


def source_differences(meta: dict[str, Any], expected: dict[str, Any]) -> dict[str, str]:
    """How a source checkpoint's input spec, crop policy and illumination differ from this run's."""
    out: dict[str, str] = {}
    theirs, ours = meta.get("input_spec") or {}, expected.get("input_spec") or {}
    spec = [f"{k} {theirs[k]} vs {ours[k]}" for k in ("input_size", "in_chans", "crop_size", "mean", "std")
            if k in theirs and k in ours and _norm(theirs[k]) != _norm(ours[k])]
    if spec:
        out["input_spec"] = "; ".join(spec)
    crop, want = meta.get("crop"), expected.get("crop")
    if crop and want and (crop["name"], crop.get("options") or {}) != (want["name"], want.get("options") or {}):
        out["crop"] = f"{crop['name']} {crop.get('options') or {}} vs {want['name']} {want.get('options') or {}}"
    if "illumination" in expected and (meta.get("illumination") or "none") != (expected["illumination"] or "none"):
        out["illumination"] = f"{meta.get('illumination') or 'none'} vs {expected['illumination'] or 'none'}"
    return out


def _norm(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [round(float(v), 6) if isinstance(v, float) else v for v in value]
    return value


def describe_init(record: dict[str, Any]) -> list[str]:
    """The log lines of an ``init_from`` record: the classifier's fate and input differences."""
    label = record["name"] or record["source"]
    cls = record["classifier"]
    if cls["mode"] == "loaded":
        what = "classifier loaded (same classes)"
    elif cls["mode"] == "mapped":
        what = (f"classifier rows mapped by class name for {len(cls['mapped'])} of "
                f"{len(cls['mapped']) + len(cls['new'])} classes"
                + (f" (new, freshly initialised: {', '.join(cls['new'])})" if cls["new"] else ""))
    else:
        what = f"classifier re-initialised (no class shared with the source's {', '.join(record['classes'])})"
    lines = [f"model.init_from {label} (sha256 {record['sha256'][:12]}): backbone tensors loaded; {what}"]
    for key, diff in (record.get("differences") or {}).items():
        lines.append(f"model.init_from {label}: {key} differs from the source's (source vs this run: {diff})")
    return lines


def pretrained_record(backbone: torch.nn.Module) -> dict[str, Any] | None:
    """Where a backbone's own pretrained weights came from (timm's ``pretrained``), with the
    sha256 of the file that was read."""
    src = getattr(backbone, "pretrained_source", None)
    if not src:
        return None
    from fertk.checkpoint import sha256_file

    return {**src, **({"sha256": sha256_file(src["file"])} if src.get("file") else {})}


def checkpoint_options(cfg: Any, spec: dict[str, Any], num_classes: int) -> dict[str, Any]:
    """The backbone options a checkpoint records: the config's, without the pretrained-weight
    options (the checkpoint holds the tensors; rebuilding must not read or fetch them again),
    with the input normalisation they implied pinned."""
    opts = {**cfg.model.backbone_options, "num_classes": num_classes}
    if {"pretrained", "pretrained_file"} & set(opts):
        opts.pop("pretrained", None)
        opts.pop("pretrained_file", None)
        opts.setdefault("mean", list(spec["mean"]))
        opts.setdefault("std", list(spec["std"]))
    return opts


def build_head(cfg: Any, num_classes: int, input_dim: int, context: Any = None
               ) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The configured temporal head, registered in ``context``, and the options it was built with."""
    from fertk.plugins import get_registry

    opts = {"input_kind": cfg.sequence.input_kind, "seq_len": cfg.sequence.seq_len,
            "input_dim": input_dim}
    opts.update(cfg.model.temporal_options)
    head = get_registry("temporal", context).create(cfg.model.temporal, num_classes=num_classes, **opts)
    return head, opts


@dataclass(frozen=True)
class RunInfo:
    """What a fold reads of its training run (the run is never written to by a fold):
    config, output folder, config digest, the detector of the prepared data, the shared
    illumination cache, the plugin context whose registries build every component, and
    whether this fold logs the ``model.init_from`` lines."""

    cfg: Any
    out: Path
    digest: str
    detector: str
    illuminated: Illuminated
    context: Any
    log_init: bool = True


class FoldRunner:
    def __init__(self, run: RunInfo, ds: ArraySet, fold: FoldSplit, index: int, dist: Any,
                 progress: Any, budget: list[int]):
        self.t, self.cfg, self.ds, self.fold, self.index = run, run.cfg, ds, fold, index
        self.dist, self.progress, self.budget = dist, progress, budget
        self.dir = run.out / "folds" / fold.name
        self.k = len(ds.classes)
        self.amp = amp_dtype_for(self.cfg.run.amp, dist.device)
        cl = self.cfg.run.channels_last
        self.channels_last = cl in ("on", True) or (cl == "auto" and (
            dist.device.type == "cuda" or cpu_channels_last(self.cfg.model.backbone, run.context)))

    @property
    def optimistic(self) -> bool:
        return self.cfg.protocol.selection == "test-fold"

    def ctx(self, stage: str) -> StageContext:
        return StageContext(
            cfg=self.cfg, dist=self.dist, fold_index=self.index, fold_name=self.fold.name,
            state_path=self.t.out / "state" / f"{self.fold.name}_{stage}.pt",
            progress=self.progress, digest=self.t.digest, amp_dtype=self.amp,
            channels_last=self.channels_last, budget=self.budget,
        )

    def run(self) -> dict[str, Any]:
        cfg, ds, fold = self.cfg, self.ds, self.fold
        from fertk.backbones.base import input_spec_of

        torch.manual_seed(seed_for(cfg.run.seed, self.index, 0))
        np.random.seed(seed_for(cfg.run.seed, self.index, 0))
        backbone = build_backbone(cfg, self.k, self.t.context)
        spec = input_spec_of(backbone)
        t_ill = eval_illumination(cfg.frame.augment, self.t.context)
        self.init_source = init_backbone(cfg, backbone, list(ds.classes), {
            "input_spec": spec, "crop": self.crop_meta(), "illumination": t_ill}, self.t.context)
        self.pretrained = pretrained_record(backbone)
        if self.init_source and self.dist.is_main and self.t.log_init:  # once per run
            for line in describe_init(self.init_source):
                self.progress.log(line)
        pipe = BatchPipeline(spec, cfg.frame.augment, self.dist.device, self.channels_last,
                             self.t.context)
        frames = cfg.frame.frames
        tr = frame_rows(ds, fold.train, frames)
        te = frame_rows(ds, fold.test, frames)
        va = te if self.optimistic else frame_rows(ds, fold.val, frames)
        if tr.size == 0 or te.size == 0:
            raise FertkError(f"fold {fold.name}: no labelled {frames} frames for training or test")
        if va.size == 0:
            raise FertkError(f"fold {fold.name}: the validation subjects have no labelled frames; "
                             "raise protocol.val_fraction")
        aug = cfg.frame.augment
        test_crops = self.t.illuminated(t_ill)
        from fertk.training.distill import distilled_targets

        distilled = distilled_targets(cfg, ds, tr, self.t.context) if cfg.frame.enabled else None
        self.distill = distilled[1] if distilled else None
        train_x, train_y = self.t.illuminated.training(aug, tr, distilled[0] if distilled else None)
        result: dict[str, Any] = {
            "fold": fold.name, "index": self.index, "config_digest": self.t.digest,
            "selection": cfg.selection_label,
            "subjects": {"train": len(fold.train), "val": len(fold.val), "test": len(fold.test)},
            "frames": {"train": int(tr.size), "val": int(va.size), "test": int(te.size)},
            "illumination": {"train": aug.illumination, "test": t_ill},
            **({"init_from": self.init_source} if self.init_source else {}),
        }
        if cfg.frame.enabled:
            st = run_frame_stage(self.ctx("frame"), backbone, pipe, train_x, train_y,
                                 np.asarray(test_crops[va]), ds.labels[va], ds.classes,
                                 "soft" if distilled else ds.target_kind)
        else:  # the initialised backbone as it is (model.init_from), e.g. to train a head on it
            backbone.to(self.dist.device)
            val_m = compute_metrics(ds.labels[va], predict(backbone, pipe.test, np.asarray(test_crops[va]),
                                                           amp_dtype=self.amp).argmax(1).numpy(), ds.classes)
            st = StageResult(cpu_state(backbone), [], -1, 0,
                             {"accuracy": val_m["accuracy"], "uar": val_m["uar"]})
        backbone.load_state_dict(st.best_state)
        # the inference form is what is tested, saved and fed to the sequence stage (a model
        # trained with batch norm to fold gives the paper's layers here)
        backbone, self.deploy_options = deploy_form(backbone)
        backbone.to(self.dist.device).eval()
        logits = predict(backbone, pipe.test, np.asarray(test_crops[te]), amp_dtype=self.amp)
        frame_pred = logits.argmax(1).numpy()
        test_m = compute_metrics(ds.labels[te], frame_pred, ds.classes)
        frame_ckpt = self.dir / "frame"
        meta = self.metadata(spec, None, t_ill, "frame", st, test_m)
        if self.dist.is_main:
            from fertk.checkpoint import save_checkpoint

            save_checkpoint(frame_ckpt, {"backbone": backbone.state_dict()}, meta)
        result["frame"] = {"test": test_m, "val": st.best_val, "best_epoch": st.best_step,
                           "epochs_run": st.steps_run, "history": st.history,
                           "checkpoint": str(frame_ckpt), "warnings": st.warnings,
                           "predictions": predictions(ds.labels[te], frame_pred)}
        result["sequence"] = None
        if cfg.model.temporal and cfg.sequence.enabled:
            result["sequence"] = self.sequence_stage(backbone, pipe, spec, test_crops, t_ill)
        return result

    # -- stage 2 --------------------------------------------------------------------------
    def _groups(self, subjects: list[str]) -> dict[str, np.ndarray]:
        rows = np.flatnonzero(np.isin(self.ds.subjects, np.asarray(subjects, dtype=str)))
        return sequence_groups(self.ds, rows)

    def _outputs(self, backbone: torch.nn.Module, pipe: BatchPipeline, crops: np.ndarray,
                 groups: dict[str, np.ndarray], views: int) -> tuple[torch.Tensor, np.ndarray]:
        """``(V, S, T, D)`` per-frame outputs of the frozen model and ``(S,)`` labels."""
        x = sequence_outputs(backbone, [lambda c, v=v: pipe.view(c, v) for v in range(views)],
                             crops, groups, self.cfg.sequence.seq_len, amp_dtype=self.amp,
                             features=self.cfg.sequence.input_kind == "features")
        labels = np.asarray([self.ds.labels[g[-1]] for g in groups.values()], dtype=np.int64)
        return x, labels

    def _sequence_inputs(self, backbone: torch.nn.Module, pipe: BatchPipeline, crops: np.ndarray
                         ) -> dict[str, Any] | None:
        """Head inputs ``(V, S, T, D)`` and labels of train, validation and test sequences."""
        cfg, fold = self.cfg, self.fold
        g_tr, g_te = self._groups(fold.train), self._groups(fold.test)
        g_va = g_te if self.optimistic else self._groups(fold.val)
        if not g_tr or not g_te or not g_va:
            return None
        return {"train": self._outputs(backbone, pipe, crops, g_tr, max(1, cfg.sequence.views)),
                "val": self._outputs(backbone, pipe, crops, g_va, 1),
                "test": self._outputs(backbone, pipe, crops, g_te, 1),
                "counts": {"train": len(g_tr), "val": len(g_va), "test": len(g_te)},
                "longest_train_sequence": int(max(len(g) for g in g_tr.values()))}

    def _still_inputs(self, backbone: torch.nn.Module, pipe: BatchPipeline, t_ill: str
                      ) -> dict[str, Any] | None:
        """The same, from synthetic tracks of stills (``sequence.source: stills``,
        :mod:`fertk.training.tracks`); ``sequence.tracks`` caps the training stills."""
        from fertk.models.sequence import frame_outputs
        from fertk.training.arrays import illuminate
        from fertk.training.tracks import TrackSpec, track_outputs

        cfg, fold, ds = self.cfg, self.fold, self.ds
        sq = cfg.sequence
        spec = TrackSpec(seq_len=sq.seq_len, onset=sq.onset)
        feats = sq.input_kind == "features"
        neutral = ds.classes.index("neutral") if "neutral" in ds.classes else -1

        def outputs(frames: np.ndarray) -> torch.Tensor:
            y = predict(backbone, pipe.test, illuminate(frames, t_ill, context=self.t.context), amp_dtype=self.amp, features=feats)
            return y if feats else frame_outputs(backbone, None, logits=y)

        def part(subjects: Any, limit: int | None, views: int, salt: int):
            rows = frame_rows(ds, subjects, cfg.frame.frames)
            if limit is not None and rows.size > limit:
                rows = np.sort(np.random.default_rng(seed_for(cfg.run.seed, self.index, 7)).choice(
                    rows, limit, replace=False))
            neutral_rows = rows[ds.labels[rows] == neutral]
            x = torch.stack([track_outputs(outputs, ds.crops, rows, neutral_rows, spec,
                                           seed_for(cfg.run.seed, self.index, salt, v))
                             for v in range(views)])
            return x, ds.labels[rows].astype(np.int64)

        tr = part(fold.train, sq.tracks, max(1, sq.views), 8)
        te = part(fold.test, None, 1, 9)
        va = te if self.optimistic else part(fold.val, None, 1, 10)
        if not (len(tr[1]) and len(va[1]) and len(te[1])):
            return None
        return {"train": tr, "val": va, "test": te, "longest_train_sequence": sq.seq_len,
                "counts": {"train": len(tr[1]), "val": len(va[1]), "test": len(te[1])}}

    def sequence_stage(self, backbone: torch.nn.Module, pipe: BatchPipeline, spec: dict[str, Any],
                       crops: np.ndarray, t_ill: str) -> dict[str, Any]:
        cfg = self.cfg
        for p in backbone.parameters():
            p.requires_grad_(False)
        t_inputs = time.perf_counter()
        if cfg.sequence.source == "stills":
            data = self._still_inputs(backbone, pipe, t_ill)
        else:
            data = self._sequence_inputs(backbone, pipe, crops)
        if data is None:
            return {"skipped": "no labelled sequences for training, validation or test"}
        (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = data["train"], data["val"], data["test"]
        inputs_s = time.perf_counter() - t_inputs  # the frozen frame model over every sequence
        dim = int(x_tr.shape[-1])
        torch.manual_seed(seed_for(cfg.run.seed, self.index, 5))
        head, head_opts = build_head(cfg, self.k, dim, self.t.context)
        st = run_sequence_stage(self.ctx("sequence"), head, x_tr, y_tr, x_va[0], y_va, self.ds.classes)
        head.load_state_dict(st.best_state)
        head.to(self.dist.device).eval()
        with torch.no_grad():
            logits = head(x_te[0].to(self.dist.device)).float().cpu()
        seq_pred = logits.argmax(1).numpy()
        test_m = compute_metrics(y_te, seq_pred, self.ds.classes)
        ckpt = self.dir / "sequence"
        meta = self.metadata(spec, {"name": cfg.model.temporal, "options": head_opts}, t_ill,
                             "sequence", st, test_m)
        meta["train"]["sequence_source"] = cfg.sequence.source
        if self.dist.is_main:
            from fertk.checkpoint import save_checkpoint

            save_checkpoint(ckpt, {"backbone": backbone.state_dict(),
                                   "temporal": head.state_dict()}, meta)
        return {"test": test_m, "val": st.best_val, "best_iteration": st.best_step,
                "iterations": st.steps_run, "history": st.history, "checkpoint": str(ckpt),
                "sequences": data["counts"], "source": cfg.sequence.source,
                "baselines": self._baselines(x_te[0], y_te),
                "predictions": predictions(y_te, seq_pred),
                "longest_train_sequence": data["longest_train_sequence"],
                "inputs_s": round(inputs_s, 3)}

    def _baselines(self, x: torch.Tensor, y: np.ndarray) -> dict[str, Any]:
        """The parameter-free heads (``average``, ``last``) on the same test sequences."""
        if self.cfg.sequence.input_kind != "probs":
            return {}
        from fertk.plugins import get_registry

        out = {}
        for name in ("average", "last"):
            head = get_registry("temporal", self.t.context).create(name, num_classes=self.k, input_kind="probs",
                                                   seq_len=self.cfg.sequence.seq_len)
            with torch.no_grad():
                pred = head(x).argmax(1).numpy()
            out[name] = {k: v for k, v in compute_metrics(y, pred, self.ds.classes).items()
                         if k in ("accuracy", "uar", "macro_f1")}
        return out

    def label_mode(self) -> dict[str, Any] | None:
        """How the training targets were made where the data set gives distributions (FER+'s
        label mode and its ``target_kind``), from the prepared data's options."""
        if self.ds.targets is None:
            return None
        opts = (getattr(self.ds, "report", {}).get("options") or {}).get("dataset") or {}
        return {"mode": opts.get("labels"), "target_kind": self.ds.target_kind}

    def crop_meta(self) -> dict[str, Any]:
        prep = getattr(self.ds, "report", {}).get("options", {}) or {}
        from fertk.faces import default_crop

        name = default_crop(self.cfg.data.crop, prep.get("crop"))
        opts = self.cfg.data.crop_options or prep.get("crop_options") or {}
        return {"name": name, "options": dict(opts)}

    def data_part(self) -> dict[str, Any]:
        """The data set trained on: ``synth`` for ``fertk synth`` output, whichever layout
        (``reader``) read it."""
        from fertk.synth import data_name

        name = data_name(self.cfg.data.dataset, self.cfg.data.root)
        reader = {"reader": self.cfg.data.dataset} if name != self.cfg.data.dataset else {}
        return {"dataset": name, **reader}

    def test_part(self) -> dict[str, Any]:
        """What the checkpoint was tested on: the split name (``standard``) or the subjects."""
        meta = self.fold.meta or {}
        if meta.get("protocol") == "standard":
            return {"protocol": "standard", "test_split": meta.get("test"),
                    "val_split": meta.get("val") or None, "train_split": meta.get("train")}
        return {"protocol": self.cfg.protocol.kind, "test_subjects": [str(s) for s in self.fold.test]}

    def metadata(self, spec: dict[str, Any], temporal: dict[str, Any] | None, t_ill: str,
                 stage: str, st: Any, test_m: dict[str, Any]) -> dict[str, Any]:
        from fertk import __version__

        cfg = self.cfg
        return {
            "fertk_version": __version__,
            "classes": list(self.ds.classes),
            "backbone": {"name": cfg.model.backbone,
                         "options": {**checkpoint_options(cfg, spec, self.k),
                                     **getattr(self, "deploy_options", {})}},
            "temporal": temporal,
            "crop": self.crop_meta(),
            "detector": self.t.detector,
            "input_spec": spec,
            "illumination": None if t_ill == "none" else t_ill,
            "train": {
                "stage": stage, "fold": self.fold.name, "preset": cfg.preset, "seed": cfg.run.seed,
                "selection": cfg.selection_label, "config_digest": self.t.digest,
                "data_hash": self.ds.key, "best_step": st.best_step, "val": st.best_val,
                "test": {k: test_m[k] for k in ("accuracy", "uar", "macro_f1")},
                **self.data_part(), **self.test_part(),
                "preprocessing": {"detector": self.t.detector, "crop": self.crop_meta()},
                **({"init_from": self.init_source} if self.init_source else {}),
                **({"pretrained": self.pretrained} if self.pretrained else {}),
                **({"distill": self.distill} if getattr(self, "distill", None) else {}),
                **({"labels": ds_labels} if (ds_labels := self.label_mode()) else {}),
                "fine_tune": dict(zip(("freeze_epochs", "lr_backbone"), fine_tune_plan(cfg),
                                      strict=True)) if stage == "frame" and cfg.frame.enabled else None,
            },
            "licence": "trained by the user; same terms as the training data",
            "source": "fertk train",
        }
