"""``fertk train``: the paper's two-stage, subject-independent training protocol, per fold.

Per fold: (1) the frame CNN on the peak frames of the training subjects, the epoch chosen on
validation subjects carved from the training subjects (or, only when asked, on the test fold:
``selection: test-fold``, labelled "test-fold (optimistic, paper)" everywhere); (2) the
temporal head on the frozen frame model's per-frame outputs over sequences resampled to T.
Each fold writes checkpoints (safetensors + JSON metadata, :mod:`fertk.checkpoint`), a JSON
result and reports; the run writes a summary over folds, pooled confusion matrices, the
split file and a manifest. ``resume=True`` continues an interrupted run exactly.

Run directory layout::

    OUT/config.yaml  splits.json  manifest.json  summary.json  summary.md
    OUT/frame_pooled.{json,md,png}  OUT/frame_pooled_confusion.{csv,png}  (and sequence_*)
    OUT/folds/<fold>/frame.{safetensors,json}  sequence.{safetensors,json}  result.json
    OUT/state/<fold>_{frame,sequence}.pt  (trainer state for --resume)
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import numpy as np

from fertk.errors import FertkError
from fertk.fsutil import folder_lock
from fertk.training.arrays import ArraySet, frame_rows, load_data, sequence_groups
from fertk.training.config import TrainConfig, config_to_yaml
from fertk.training.folds import FoldSplit, make_folds, save_splits, select_folds
from fertk.training.metrics import METRICS, compute_metrics, merge_confusions
from fertk.training.reports import read_json, write_json, write_metric_report


class Trainer:
    """Runs one configuration over every fold of its protocol.

    ``data`` may be given directly (an :class:`~fertk.training.arrays.ArraySet` or a
    ``PreparedSet``); otherwise it is prepared from ``cfg.data``. ``context`` (a
    :class:`fertk.plugins.Context`, default: the default one) holds the registries every
    component is built from: backbone, temporal head, augmentations, ``model.init_from``.
    """

    def __init__(self, cfg: TrainConfig, out: str | Path | None = None, resume: bool = False,
                 data: Any = None, argv: list[str] | None = None, context: Any = None):
        from fertk.plugins import default_context

        self.cfg = cfg
        self.context = context or default_context()
        self.out = Path(out or cfg.run.out or Path("runs") / cfg.name)
        self.resume = resume
        self._data = data
        self.argv = argv if argv is not None else list(sys.argv)
        self.digest = cfg.digest()
        self._illuminated: Any = None
        self._init_logged = False

    # -- setup --------------------------------------------------------------------------
    def _check_place(self) -> None:
        """``--out`` can hold the run: no file in the way, and with ``--resume`` it exists
        (one line, before the data loads and before the folder is made)."""
        from fertk.fsutil import check_out_dir

        check_out_dir(self.out, "--out")
        if self.resume and not self.out.exists():
            raise FertkError(f"--resume: {self.out} does not exist, so there is no run to "
                             "continue (check --out, or drop --resume to start a new run)")

    def _check_out_dir(self, say: bool = True) -> None:
        self._check_place()
        cfg_path = self.out / "config.yaml"
        if self.resume and not cfg_path.exists():
            self._say(f"{self.out} holds no run to continue (no config.yaml): starting a new run",
                      say)
            self.resume = False
        if cfg_path.exists() and not self._started():
            # a run that failed before its first saved epoch left only its setup files: a
            # rerun (with or without --resume, even with a mended config) starts it afresh
            self._say(f"{self.out}: the run there stopped before its first saved epoch; "
                      "starting it afresh", say)
            self.resume = False
            return
        if cfg_path.exists() and not self.resume:
            raise FertkError(f"{self.out} already holds a run; pass --resume to continue it "
                             "or --out DIR for a new one")
        if self.resume and (self.out / "manifest.json").exists():
            old = read_json(self.out / "manifest.json").get("config_digest")
            if old and old != self.digest and not self._moved_split_file(old, say):
                raise FertkError(f"--resume: {self.out} was run with a different config "
                                 f"(digest {old}, now {self.digest}); use another --out")

    def _moved_split_file(self, old: str, say: bool) -> bool:
        """Whether the run in ``out`` (config digest ``old``) differs from this config only in
        the path of its ``protocol.splits`` file, which holds the same folds (e.g. ``fertk
        compare --out`` moved): then the run goes on as it was recorded (its folds are its own
        splits.json; the digest keeps the recorded path) and True; else False."""
        import copy

        from fertk.training.config import saved_run_config
        from fertk.training.folds import folds_digest, load_splits

        if self.cfg.protocol.kind != "splits" or not self.cfg.protocol.splits:
            return False
        try:
            recorded = saved_run_config(self.out, self.context)
            moved = copy.deepcopy(self.cfg)
            moved.protocol.splits = recorded.protocol.splits
            if recorded.protocol.kind != "splits" or moved.digest() != old:
                return False
            now = select_folds(load_splits(self.cfg.protocol.splits), self.cfg.protocol.only_folds)
            if folds_digest(now) != folds_digest(load_splits(self.out / "splits.json")):
                return False
        except (FertkError, OSError, ValueError, KeyError):
            return False
        self._say(f"--resume: protocol.splits is now {self.cfg.protocol.splits}, the run's was "
                  f"{recorded.protocol.splits}: the same folds, so the run goes on as recorded", say)
        self.cfg, self.digest = moved, old
        return True

    def _started(self) -> bool:
        """Whether the run in ``out`` saved any training progress (a trainer state, a fold's
        checkpoint or result), not only its setup files (config, splits, manifest)."""
        return any(p.is_file() for d in ("state", "folds") for p in (self.out / d).rglob("*"))

    @staticmethod
    def _say(text: str, say: bool = True) -> None:
        if say:
            print(f"fertk: {text}", file=sys.stderr)

    def data(self) -> ArraySet:
        if self._data is None:
            self._data = load_data(self.cfg.data, progress=self.cfg.run.progress,
                                   context=self.context)
        from fertk.training.arrays import as_array_set

        self._data = as_array_set(self._data)
        return self._data

    def folds(self, ds: ArraySet) -> list[FoldSplit]:
        split_file = self.out / "splits.json"
        if self.resume and split_file.exists():
            from fertk.training.folds import load_splits

            folds = load_splits(split_file)
        else:
            folds = make_folds(ds, self.cfg.protocol, self.cfg.run.seed)
        return select_folds(folds, self.cfg.protocol.only_folds)

    def detector_name(self) -> str | None:
        prep = (getattr(self._data, "report", {}) or {}).get("options", {}) or {}
        from fertk.faces import choose_detector

        return choose_detector(self.cfg.data.detector, prep.get("detector"))

    # -- main ---------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        from fertk.training import distributed

        dist = distributed.setup(self.cfg.run.device)
        try:
            with contextlib.ExitStack() as held:
                if dist.is_main:  # one writer per run folder (the other ranks write nothing),
                    self._check_place()  # held before anything is said about the run in it
                    held.enter_context(folder_lock(self.out, "--out"))
                self._check_out_dir(say=dist.is_main)  # every rank: they settle --resume alike
                distributed.barrier(dist)
                return self._run(dist)
        finally:
            distributed.cleanup(dist)

    def _run(self, dist: Any) -> dict[str, Any]:
        """The run, once the run folder is checked (and held by the main process)."""
        import torch

        from fertk.training import distributed
        from fertk.training.progress import TrainProgress

        if self.cfg.run.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            if dist.device.type == "cuda":
                torch.backends.cudnn.benchmark = False
        ds = self.data()
        if len(ds.classes) < 2:
            raise FertkError("the data set has fewer than two classes")
        folds = self.folds(ds)
        if dist.is_main:  # the run folder exists: run() made it when it took the lock
            (self.out / "config.yaml").write_text(config_to_yaml(self.cfg), encoding="utf-8")
            save_splits(self.out / "splits.json", folds,
                        {"protocol": self.cfg.protocol.kind, "data_hash": ds.key})
            self._write_manifest(ds, folds)
        budget = [self.cfg.run.stop_after_epochs or -1]
        results = []
        with TrainProgress(self.cfg.run.progress and dist.is_main) as progress:
            for i, fold in enumerate(folds):
                results.append(self._run_fold(ds, fold, i, dist, progress, budget))
        summary = self._summarize(results, ds, write=dist.is_main)
        distributed.barrier(dist)
        return summary

    def _run_fold(self, ds: ArraySet, fold: FoldSplit, index: int, dist: Any, progress: Any,
                  budget: list[int]) -> dict[str, Any]:
        from fertk.training.arrays import Illuminated
        from fertk.training.fold_runner import FoldRunner, RunInfo

        fold_dir = self.out / "folds" / fold.name
        result_file = fold_dir / "result.json"
        if self.resume and result_file.exists():
            res = read_json(result_file)
            if res.get("config_digest") == self.digest:
                return res
        if self._illuminated is None or self._illuminated.ds is not ds:
            self._illuminated = Illuminated(ds, self.context)
        run = RunInfo(self.cfg, self.out, self.digest, self.detector_name(), self._illuminated,
                      self.context, log_init=not self._init_logged)
        res = FoldRunner(run, ds, fold, index, dist, progress, budget).run()
        self._init_logged = True
        if dist.is_main:
            write_json(result_file, res)
        return res

    # -- outputs ------------------------------------------------------------------------
    def _write_manifest(self, ds: ArraySet, folds: list[FoldSplit]) -> None:
        from fertk.training.manifest import build_manifest

        write_json(self.out / "manifest.json", build_manifest(
            configs={self.cfg.name: self.cfg.to_dict()}, data_hash=ds.key,
            split_files=[self.out / "splits.json"], argv=self.argv,
            extra={"config_digest": self.digest, "folds": [f.name for f in folds],
                   "selection": self.cfg.selection_label, "classes": ds.classes,
                   "n_rows": int(len(ds.labels)), "data_report": ds.report},
        ))

    def _summarize(self, results: list[dict[str, Any]], ds: ArraySet,
                   write: bool = True) -> dict[str, Any]:
        from fertk.training.stats import format_mean_std, mean_std

        label = self.cfg.selection_label
        summary: dict[str, Any] = {
            "name": self.cfg.name, "preset": self.cfg.preset, "config_digest": self.digest,
            "selection": label, "classes": ds.classes, "data_hash": ds.key,
            "backbone": self.cfg.model.backbone, "temporal": self.cfg.model.temporal,
            "folds": [r["fold"] for r in results], "stages": {},
        }
        md = [f"# {self.cfg.name}", "", f"- model selection: **{label}**",
              f"- preset: {self.cfg.preset}; backbone {self.cfg.model.backbone}; "
              f"temporal {self.cfg.model.temporal}", f"- folds: {len(results)}", ""]
        for stage in ("frame", "sequence"):
            reports = [r[stage]["test"] for r in results if r.get(stage)]
            if not reports:
                continue
            per_fold = {m: [rep[m] for rep in reports] for m in METRICS}
            stats = {m: dict(zip(("mean", "std"), mean_std(v), strict=True))
                     for m, v in per_fold.items()}
            cm = merge_confusions(reports)
            pooled = _metrics_from_confusion(cm, ds.classes)
            summary["stages"][stage] = {"per_fold": per_fold, "stats": stats, "pooled": pooled}
            if write:
                write_metric_report(self.out, pooled, stem=f"{stage}_pooled",
                                    title=f"{self.cfg.name}: {stage} stage, pooled over folds "
                                          f"(selection: {label})",
                                    extra={"selection": label, "stage": stage})
            md += [f"## {stage} stage", "", "| metric | mean ± std over folds | pooled |",
                   "|---|---|---|"]
            md += [f"| {m} | {format_mean_std(per_fold[m])} | {100 * pooled[m]:.2f} |"
                   for m in METRICS]
            md += ["", f"![confusion]({stage}_pooled_confusion.png)", ""]
        if write:
            write_json(self.out / "summary.json", summary)
            (self.out / "summary.md").write_text("\n".join(md), encoding="utf-8")
        return summary


def _metrics_from_confusion(cm: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Metrics of a pooled confusion matrix (expands it back into label pairs)."""
    k = len(classes)
    t = np.repeat(np.repeat(np.arange(k), k), cm.reshape(-1))
    p = np.repeat(np.tile(np.arange(k), k), cm.reshape(-1))
    return compute_metrics(t, p, classes)


def train(cfg: TrainConfig, out: str | Path | None = None, resume: bool = False,
          data: Any = None, context: Any = None) -> dict[str, Any]:
    """Train ``cfg`` over its folds; the summary dict (also in ``OUT/summary.json``)."""
    return Trainer(cfg, out=out, resume=resume, data=data, context=context).run()


__all__ = ["Trainer", "train", "frame_rows", "sequence_groups"]
