"""One fold of a training run: frame stage, test evaluation, sequence stage, checkpoints."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fertk.engine.batching import BatchPipeline
from fertk.engine.data import ArraySet, frame_rows, sequence_groups
from fertk.engine.folds import FoldSplit
from fertk.engine.metrics import compute_metrics
from fertk.engine.stages import (
    StageContext,
    StageResult,
    cpu_state,
    predict,
    run_frame_stage,
    run_sequence_stage,
    seed_for,
    sequence_outputs,
)
from fertk.errors import FertkError


def amp_dtype_for(mode: str, device: torch.device) -> torch.dtype | None:
    if mode == "off":
        return None
    if mode == "fp16":
        return torch.float16 if device.type == "cuda" else None
    if mode == "bf16":
        return torch.bfloat16
    return torch.bfloat16 if device.type == "cuda" else None  # auto


def test_illumination(aug: Any) -> str:
    """The normalisation applied at test time (and to the sequence stage's inputs)."""
    if aug.illumination in ("he", "lm", "ws"):
        return aug.illumination
    return aug.test_illumination if aug.illumination == "aug" else "none"


def build_backbone(cfg: Any, num_classes: int) -> torch.nn.Module:
    from fertk.plugins import get_registry

    opts = dict(cfg.model.backbone_options)
    opts["num_classes"] = num_classes
    model = get_registry("backbones").create(cfg.model.backbone, **opts)
    if cfg.frame.init == "xavier":
        from fertk.backbones.base import xavier_init

        xavier_init(model)
    return model


def init_backbone(cfg: Any, backbone: torch.nn.Module, classes: list[str]) -> dict[str, Any] | None:
    """Load ``model.init_from`` (a registered weight name or a checkpoint) into ``backbone``.

    The source must hold the same backbone with the same class list; tensors that do not fit
    are a one-line error naming them. Returns the provenance recorded in the checkpoint
    metadata (source name or path and the sha256 of its tensors), or None without a source.
    """
    src = cfg.model.init_from
    if not src:
        return None
    from fertk.checkpoint import _load_part, check_compatible, load_checkpoint, sha256_file

    ckpt = load_checkpoint(src)
    where = f"model.init_from {src}"
    check_compatible(ckpt, backbone=cfg.model.backbone, where=where)
    check_compatible(ckpt, classes=classes, where=where)
    _load_part(backbone, ckpt.state_dicts["backbone"], "backbone", ckpt)
    return {"source": str(src), "path": str(ckpt.path), "sha256": sha256_file(ckpt.path)}


def build_head(cfg: Any, num_classes: int, input_dim: int) -> tuple[torch.nn.Module, dict[str, Any]]:
    from fertk.plugins import get_registry

    opts = {"input_kind": cfg.sequence.input_kind, "seq_len": cfg.sequence.seq_len,
            "input_dim": input_dim}
    opts.update(cfg.model.temporal_options)
    head = get_registry("temporal").create(cfg.model.temporal, num_classes=num_classes, **opts)
    return head, opts


class FoldRunner:
    def __init__(self, trainer: Any, ds: ArraySet, fold: FoldSplit, index: int, dist: Any,
                 progress: Any, budget: list[int]):
        self.t, self.cfg, self.ds, self.fold, self.index = trainer, trainer.cfg, ds, fold, index
        self.dist, self.progress, self.budget = dist, progress, budget
        self.dir = trainer.out / "folds" / fold.name
        self.k = len(ds.classes)
        self.amp = amp_dtype_for(self.cfg.run.amp, dist.device)
        cl = self.cfg.run.channels_last
        self.channels_last = (cl in ("on", True)) or (cl == "auto" and dist.device.type == "cuda")

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
        backbone = build_backbone(cfg, self.k)
        self.init_source = init_backbone(cfg, backbone, list(ds.classes))
        spec = input_spec_of(backbone)
        pipe = BatchPipeline(spec, cfg.frame.augment, self.dist.device, self.channels_last)
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
        t_ill = test_illumination(aug)
        test_crops = self.t.illuminated(ds, t_ill)
        if aug.illumination == "aug":
            train_x = np.concatenate([self.t.illuminated(ds, n)[tr] for n in ("he", "lm", "ws")])
            train_y = np.tile(ds.labels[tr], 3)
        else:
            train_x, train_y = np.asarray(test_crops[tr]), ds.labels[tr]
        result: dict[str, Any] = {
            "fold": fold.name, "index": self.index, "config_digest": self.t.digest,
            "selection": cfg.selection_label,
            "subjects": {"train": len(fold.train), "val": len(fold.val), "test": len(fold.test)},
            "frames": {"train": int(tr.size), "val": int(va.size), "test": int(te.size)},
            "illumination": {"train": aug.illumination, "test": t_ill},
        }
        if cfg.frame.enabled:
            st = run_frame_stage(self.ctx("frame"), backbone, pipe, train_x, train_y,
                                 np.asarray(test_crops[va]), ds.labels[va], ds.classes)
        else:  # the initialised backbone as it is (model.init_from), e.g. to train a head on it
            backbone.to(self.dist.device)
            val_m = compute_metrics(ds.labels[va], predict(backbone, pipe.test, np.asarray(test_crops[va]),
                                                           amp_dtype=self.amp).argmax(1).numpy(), ds.classes)
            st = StageResult(cpu_state(backbone), [], -1, 0,
                             {"accuracy": val_m["accuracy"], "uar": val_m["uar"]})
        backbone.load_state_dict(st.best_state)
        backbone.to(self.dist.device).eval()
        logits = predict(backbone, pipe.test, np.asarray(test_crops[te]), amp_dtype=self.amp)
        test_m = compute_metrics(ds.labels[te], logits.argmax(1).numpy(), ds.classes)
        frame_ckpt = self.dir / "frame"
        meta = self.metadata(spec, None, t_ill, "frame", st, test_m)
        if self.dist.is_main:
            from fertk.checkpoint import save_checkpoint

            save_checkpoint(frame_ckpt, {"backbone": backbone.state_dict()}, meta)
        result["frame"] = {"test": test_m, "val": st.best_val, "best_epoch": st.best_step,
                           "epochs_run": st.steps_run, "history": st.history,
                           "checkpoint": str(frame_ckpt)}
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

    def _sequence_inputs(self, backbone: torch.nn.Module, pipe: BatchPipeline, crops: np.ndarray,
                         t_ill: str) -> dict[str, Any] | None:
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
        :mod:`fertk.engine.tracks`); ``sequence.tracks`` caps the training stills."""
        from fertk.engine.data import illuminate
        from fertk.engine.tracks import TrackSpec, track_outputs

        cfg, fold, ds = self.cfg, self.fold, self.ds
        sq = cfg.sequence
        spec = TrackSpec(seq_len=sq.seq_len, onset=sq.onset)
        feats = sq.input_kind == "features"
        neutral = ds.classes.index("neutral") if "neutral" in ds.classes else -1

        def outputs(frames: np.ndarray) -> torch.Tensor:
            y = predict(backbone, pipe.test, illuminate(frames, t_ill), amp_dtype=self.amp, features=feats)
            return y if feats else torch.softmax(y, dim=1)

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
        if cfg.sequence.source == "stills":
            data = self._still_inputs(backbone, pipe, t_ill)
        else:
            data = self._sequence_inputs(backbone, pipe, crops, t_ill)
        if data is None:
            return {"skipped": "no labelled sequences for training, validation or test"}
        (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = data["train"], data["val"], data["test"]
        dim = int(x_tr.shape[-1])
        torch.manual_seed(seed_for(cfg.run.seed, self.index, 5))
        head, head_opts = build_head(cfg, self.k, dim)
        st = run_sequence_stage(self.ctx("sequence"), head, x_tr, y_tr, x_va[0], y_va, self.ds.classes)
        head.load_state_dict(st.best_state)
        head.to(self.dist.device).eval()
        with torch.no_grad():
            logits = head(x_te[0].to(self.dist.device)).float().cpu()
        test_m = compute_metrics(y_te, logits.argmax(1).numpy(), self.ds.classes)
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
                "longest_train_sequence": data["longest_train_sequence"]}

    def _baselines(self, x: torch.Tensor, y: np.ndarray) -> dict[str, Any]:
        """The parameter-free heads (``average``, ``last``) on the same test sequences."""
        if self.cfg.sequence.input_kind != "probs":
            return {}
        from fertk.plugins import get_registry

        out = {}
        for name in ("average", "last"):
            head = get_registry("temporal").create(name, num_classes=self.k, input_kind="probs",
                                                   seq_len=self.cfg.sequence.seq_len)
            with torch.no_grad():
                pred = head(x).argmax(1).numpy()
            out[name] = {k: v for k, v in compute_metrics(y, pred, self.ds.classes).items()
                         if k in ("accuracy", "uar", "macro_f1")}
        return out

    def crop_meta(self) -> dict[str, Any]:
        prep = getattr(self.ds, "report", {}).get("options", {}) or {}
        name = self.cfg.data.crop or prep.get("crop") or "landmark"
        opts = self.cfg.data.crop_options or prep.get("crop_options") or {}
        return {"name": name, "options": dict(opts)}

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
                         "options": {**cfg.model.backbone_options, "num_classes": self.k}},
            "temporal": temporal,
            "crop": self.crop_meta(),
            "detector": self.t.detector_name(),
            "input_spec": spec,
            "illumination": None if t_ill == "none" else t_ill,
            "train": {
                "stage": stage, "fold": self.fold.name, "preset": cfg.preset, "seed": cfg.run.seed,
                "selection": cfg.selection_label, "config_digest": self.t.digest,
                "data_hash": self.ds.key, "best_step": st.best_step, "val": st.best_val,
                "test": {k: test_m[k] for k in ("accuracy", "uar", "macro_f1")},
                "dataset": cfg.data.dataset, **self.test_part(),
                "preprocessing": {"detector": self.t.detector_name(), "crop": self.crop_meta()},
                **({"init_from": self.init_source} if self.init_source else {}),
            },
            "licence": "trained by the user; same terms as the training data",
            "source": "fertk train",
        }
