"""A 48×48 model's input spec travels in its checkpoint: ``fertk eval``, ``fertk run`` and
``fertk.analyze`` all crop and resize faces to it (FER2013's native resolution)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

FER = ("anger", "disgust", "fear", "happy", "sadness", "surprise", "neutral")


@pytest.fixture(scope="module")
def fer_csv(tmp_path_factory):
    """A FER2013-layout CSV of learnable 48×48 faces: class k is a bright bar in band k."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("fer") / "fer2013.csv"
    images = {}
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        for usage in ("Training", "PublicTest", "PrivateTest"):
            for i in range(7 * 8):
                k = i % 7
                img = rng.normal(0, 10, (48, 48)) + rng.uniform(60, 100)
                img[3 + 6 * k : 7 + 6 * k, 4:44] += 100
                img = np.clip(img, 0, 255).astype(np.uint8)
                images.setdefault(usage, []).append((img, k))
                w.writerow([k, " ".join(map(str, img.ravel())), usage])
    return path, images


@pytest.fixture(scope="module")
def trained48(fer_csv, tmp_path_factory):
    from fertk.training.config import build_config
    from fertk.training.train import Trainer

    path, _ = fer_csv
    out = tmp_path_factory.mktemp("run48")
    cfg = build_config({
        "name": "t48", "protocol": {"kind": "standard"},
        "data": {"dataset": "fer2013", "root": str(path), "detector": "none", "crop": "box",
                 "crop_options": {"margin": 0.25}, "cache_dir": str(out / "cache"), "workers": 1},
        "model": {"backbone": "compact_tiny", "temporal": None,
                  "backbone_options": {"input_size": 48, "batch_norm": "fold", "drop": 0.1}},
        "frame": {"epochs": 3, "batch_size": 16, "warmup_epochs": 0, "lr": 0.003,
                  "augment": {"illumination": "he", "test_illumination": "he"}},
        "run": {"progress": False, "seed": 0},
    })
    torch.manual_seed(0)
    Trainer(cfg, out=out / "run").run()
    fold = out / "run" / "folds" / "standard"
    return fold / "frame", json.loads((fold / "result.json").read_text())


def test_the_checkpoint_records_the_48_pixel_input(trained48):
    from fertk.checkpoint import load_checkpoint

    ckpt = load_checkpoint(trained48[0])
    assert ckpt.metadata["input_spec"]["input_size"] == [48, 48]
    assert ckpt.metadata["backbone"]["options"]["input_size"] in (48, [48, 48])


def test_eval_scores_the_test_split_as_training_did(trained48, fer_csv, tmp_path):
    from fertk.cli import cli

    ckpt, result = trained48
    res = CliRunner().invoke(cli, ["eval", str(ckpt), "fer2013", "--root", str(fer_csv[0].parent),
                                    "--out", str(tmp_path / "ev")])
    assert res.exit_code == 0, res.output
    report = json.loads(next((tmp_path / "ev").rglob("report.json")).read_text())
    acc = report["frame"]["accuracy"]
    assert acc == pytest.approx(result["frame"]["test"]["accuracy"], abs=1e-9)
    assert result["frame"]["test"]["accuracy"] > 0.4  # it learnt: chance is 1/7


def manual_probs(ckpt_path, img48: np.ndarray) -> np.ndarray:
    """What the model gives for one whole 48×48 face: the training crop (box, margin 0.25),
    HE, the centre region resized to the recorded 48×48 input."""
    import fertk
    from fertk.checkpoint import build_from_checkpoint, load_checkpoint
    from fertk.preprocess import FrameTransform
    from fertk.types import Face

    ckpt = load_checkpoint(ckpt_path)
    net, _ = build_from_checkpoint(ckpt)
    crop = fertk.create("crops", "box", margin=0.25)
    face = crop(img48, Face(box=(0.0, 0.0, 48.0, 48.0), score=1.0))
    c = face.image if hasattr(face, "image") else face
    c = fertk.create("augmentations", "he")(np.asarray(c, dtype=np.uint8))
    x = FrameTransform(ckpt.metadata["input_spec"])(c)
    assert x.shape[-2:] == (48, 48)
    with torch.no_grad():
        return net(x).softmax(1)[0].numpy()


def test_analyze_feeds_the_model_48_pixels(trained48, fer_csv):
    import fertk

    ckpt, _ = trained48
    img, _k = fer_csv[1]["PrivateTest"][3]
    want = manual_probs(ckpt, img)
    face = fertk.analyze(img, weights=str(ckpt), detector="none").faces[0]
    assert np.allclose(np.asarray(face.probs, dtype=float), want, atol=1e-4)


def test_run_gives_what_analyze_gives_on_a_real_photo(trained48, tmp_path):
    """``fertk run`` and ``fertk.analyze`` share the model's recorded preprocessing."""
    from pathlib import Path

    import fertk
    from fertk.cli import cli

    ckpt, _ = trained48
    photo = Path(__file__).resolve().parents[2] / "examples" / "media" / "grace_hopper.jpg"
    want = np.asarray(fertk.analyze(str(photo), weights=str(ckpt)).faces[0].probs, dtype=float)
    res = CliRunner().invoke(cli, ["run", str(photo), "--weights", str(ckpt),
                                   "--out", str(tmp_path / "out"), "--no-annotate"])
    assert res.exit_code == 0, res.output
    tables = [p for p in (tmp_path / "out").rglob("*.csv") if "p_anger" in p.read_text().splitlines()[0]]
    with open(tables[0], newline="") as fh:
        row = next(csv.DictReader(fh))
    assert np.allclose([float(row[f"p_{c}"]) for c in FER], want, atol=1e-3)
