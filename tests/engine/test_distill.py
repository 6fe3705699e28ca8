"""Distillation (``model.teachers`` + ``frame.distill``): a student learns from a trained teacher's
distributions, records its teacher, and refuses teachers that cannot label its classes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fertk.checkpoint import read_metadata, sha256_file
from fertk.errors import FertkError
from fertk.training.config import build_config
from fertk.training.distill import distilled_targets, teacher_probs
from fertk.training.train import Trainer


def _config(**sections):
    cfg = {"name": "kd", "protocol": {"kind": "standard"},
           "model": {"backbone": "compact_tiny", "temporal": None,
                     "backbone_options": {"input_size": 16, "drop": 0.1, "batch_norm": "fold"}},
           "frame": {"epochs": 2, "batch_size": 16, "lr": 0.003, "warmup_epochs": 0, "patience": 100,
                     "augment": {"illumination": "none", "test_illumination": "none", "rotate": 0.0,
                                 "scale": 0.0, "flip": False, "shift": False}},
           "run": {"progress": False, "seed": 0}}
    for key, value in sections.items():
        cfg[key] = {**cfg[key], **value}
    return cfg


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, bars):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("teacher")
    Trainer(build_config(_config(frame={"epochs": 3})), out=out, data=bars()).run()
    return out / "folds" / "standard" / "frame"


def test_a_student_learns_from_its_teacher_and_records_it(tmp_path, bars, teacher):
    torch.set_num_threads(1)
    data = bars()
    # the labels are withheld from the student (all one class): only the teacher can teach it
    blind = bars()
    train = np.char.startswith(blind.subjects.astype(str), "Training/")
    blind.labels = np.where(train, 0, blind.labels)
    probs, record = teacher_probs(str(teacher), data.crops[train], data.classes)
    assert probs.shape == (int(train.sum()), 4) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert (probs.argmax(1) == data.labels[train]).mean() > 0.9  # the teacher knows the bars
    assert record["sha256"] == sha256_file(str(teacher) + ".safetensors")
    raw = _config(model={"teachers": [str(teacher)]}, frame={"distill": 1.0})
    result = Trainer(build_config(raw), out=tmp_path / "student", data=blind).run()
    assert result["stages"]["frame"]["pooled"]["accuracy"] > 0.6  # chance is 0.25
    meta = read_metadata(tmp_path / "student" / "folds" / "standard" / "frame")
    kd = meta["train"]["distill"]
    assert kd["alpha"] == 1.0 and kd["teachers"][0]["sha256"] == record["sha256"]
    assert kd["teachers"][0]["test"]["accuracy"] > 0.9
    # the student alone, on the same withheld labels, learns nothing
    alone = Trainer(build_config(_config()), out=tmp_path / "alone", data=blind).run()
    assert alone["stages"]["frame"]["pooled"]["accuracy"] < 0.4


def test_targets_mix_the_teacher_into_the_training_rows_only(bars, teacher):
    data = bars()
    rows = np.flatnonzero(np.char.startswith(data.subjects.astype(str), "Training/"))
    cfg = build_config(_config(model={"teachers": [str(teacher), str(teacher)]},
                               frame={"distill": 0.25, "distill_temperature": 2.0}))
    targets, record = distilled_targets(cfg, data, rows)
    one_hot = np.eye(4, dtype=np.float32)[data.labels]
    others = np.setdiff1d(np.arange(len(data.labels)), rows)
    assert np.array_equal(targets[others], one_hot[others])
    soft, _ = teacher_probs(str(teacher), data.crops[rows], data.classes, temperature=2.0)
    assert np.allclose(targets[rows], 0.75 * one_hot[rows] + 0.25 * soft, atol=1e-6)
    assert record["temperature"] == 2.0 and len(record["teachers"]) == 2
    assert distilled_targets(build_config(_config()), data, rows) is None


def test_teachers_must_know_the_classes_and_options_go_together(bars, teacher):
    data = bars()
    with pytest.raises(FertkError, match="the teacher does not know c4"):
        teacher_probs(str(teacher), data.crops[:4], ["c0", "c4"])
    with pytest.raises(FertkError, match=r"frame\.distill: is 0"):
        build_config(_config(model={"teachers": [str(teacher)]}))
    with pytest.raises(FertkError, match=r"model\.teachers: frame\.distill is 0.5"):
        build_config(_config(frame={"distill": 0.5}))
    with pytest.raises(FertkError, match=r"frame\.distill"):
        build_config(_config(model={"teachers": [str(teacher)]}, frame={"distill": 1.5}))
    base = build_config(_config())
    assert build_config(_config(model={"teachers": []}, frame={"distill": 0.0})).digest() == base.digest()
    json.dumps(base.to_dict())  # the config stays serialisable
