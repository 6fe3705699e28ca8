"""Distillation: trained checkpoints as a teacher whose averaged distributions become the
training targets of the frame stage (``model.teachers`` + ``frame.distill``).

Each teacher (a registered weight name or a checkpoint, trained by fertk or imported) sees
the training faces as it was trained to see them: its own input size, normalisation and
test-time illumination, the centre view. Its class probabilities at temperature
``frame.distill_temperature`` are mapped onto the run's classes by name (a teacher must know
every class of the data) and averaged over the teachers. The student's target is then

    (1 - frame.distill) * data target + frame.distill * teacher distribution

(the data target being the one-hot label, or the data set's own distribution such as FER+'s
votes), trained on with the soft-target loss (:mod:`fertk.training.losses`). The teachers'
predictions are made once, before training (offline distillation on the unaugmented faces):
the augmented views then share their face's target, as they share its label without a teacher.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fertk.errors import FertkError


def teacher_probs(source: str, crops: np.ndarray, classes: list[str], temperature: float = 1.0,
                  context: Any = None) -> tuple[np.ndarray, dict[str, Any]]:
    """``(n, len(classes))`` probabilities of one teacher on uint8 crops, and its record
    (name, sha256, classes, its own test metrics)."""
    import torch

    from fertk.checkpoint import build_from_checkpoint, load_checkpoint, sha256_file
    from fertk.training.arrays import illuminate
    from fertk.training.batching import BatchPipeline
    from fertk.training.stages import predict

    ckpt = load_checkpoint(source, context=context)
    missing = [c for c in classes if c not in ckpt.classes]
    if missing:
        raise FertkError(f"model.teachers {source}: the teacher does not know {', '.join(missing)} "
                         f"(its classes: {', '.join(ckpt.classes)}); a teacher must know every "
                         "class of the data")
    backbone, _ = build_from_checkpoint(ckpt, context)
    backbone.eval()
    ill = ckpt.metadata.get("illumination") or "none"
    pipe = BatchPipeline(ckpt.input_spec, None, "cpu")
    with torch.no_grad():
        logits = predict(backbone, pipe.test, illuminate(np.asarray(crops), ill, context=context))
    probs = (logits.float() / temperature).softmax(1).numpy()
    cols = [ckpt.classes.index(c) for c in classes]
    mapped = probs[:, cols]
    mapped /= np.maximum(mapped.sum(1, keepdims=True), 1e-12)
    train = ckpt.metadata.get("train") or {}
    record = {"source": str(source), "name": ckpt.name, "sha256": sha256_file(ckpt.path),
              "backbone": ckpt.metadata["backbone"]["name"], "classes": ckpt.classes,
              "dataset": train.get("dataset"), "test": train.get("test")}
    return mapped.astype(np.float32), record


def distilled_targets(cfg: Any, ds: Any, rows: np.ndarray, context: Any = None
                      ) -> tuple[np.ndarray, dict[str, Any]] | None:
    """``(N, C)`` targets of the data set ``ds`` whose ``rows`` (the training rows) mix the
    teachers' averaged distribution in (other rows: the data's own targets), and the record
    the checkpoint keeps; None without teachers."""
    teachers = list(cfg.model.teachers or [])
    if not teachers:
        return None
    alpha, temp = float(cfg.frame.distill), float(cfg.frame.distill_temperature)
    k = len(ds.classes)
    own = np.eye(k, dtype=np.float32)[np.clip(ds.labels, 0, None)] if ds.targets is None \
        else np.asarray(ds.targets, np.float32)
    rows = np.asarray(rows, np.int64)
    outs = [teacher_probs(t, ds.crops[rows], list(ds.classes), temp, context) for t in teachers]
    teacher = np.mean([p for p, _ in outs], axis=0)
    targets = own.copy()
    targets[rows] = (1.0 - alpha) * own[rows] + alpha * teacher
    agree = float((teacher.argmax(1) == ds.labels[rows]).mean()) if len(rows) else 0.0
    return targets, {"teachers": [r for _, r in outs], "alpha": alpha, "temperature": temp,
                     "teacher_train_agreement": round(agree, 4)}
