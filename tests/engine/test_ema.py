"""Weight EMA (``frame.ema``): the average is what is validated, selected and saved; the trained
weights follow the same path as without it; resume is exact; bad values are one line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import yaml

from fertk.cli import main
from fertk.errors import FertkError
from fertk.training.config import build_config
from fertk.training.ema import WeightAverage
from fertk.training.stages import TrainingInterrupted
from fertk.training.train import Trainer


def test_average_follows_its_decay_and_copies_integer_buffers():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    avg = WeightAverage(net, 0.9)
    start = {k: v.clone() for k, v in avg.model.state_dict().items()}
    assert not any(p.requires_grad for p in avg.model.parameters())
    factors = []
    for _ in range(100):
        factors.append(avg.factor())
        with torch.no_grad():
            net[0].weight.add_(1.0)
        net[1].num_batches_tracked += 1
        before = avg.model[0].weight.clone()
        avg.update(net)
        d = factors[-1]
        assert torch.allclose(avg.model[0].weight, d * before + (1 - d) * net[0].weight)
    assert factors[0] == pytest.approx(0.1) and factors[1] == pytest.approx(2 / 11)
    assert factors[-1] == 0.9  # the warm-up has reached the configured decay
    assert int(avg.model[1].num_batches_tracked) == 100  # copied, not averaged
    assert not torch.equal(avg.model[0].weight, start["0.weight"])
    assert not torch.equal(avg.model[0].weight, net[0].weight)  # it lags behind
    again = WeightAverage(net, 0.9)
    again.load(avg.state())
    assert again.updates == 100 and again.factor() == avg.factor()
    assert all(torch.equal(a, b) for a, b in zip(again.model.state_dict().values(),
                                                  avg.model.state_dict().values(), strict=True))


def _config(**frame):
    return {"name": "ema", "protocol": {"kind": "standard"},
            "model": {"backbone": "compact_tiny", "temporal": None,
                      "backbone_options": {"input_size": 16, "drop": 0.1, "batch_norm": "fold"}},
            "frame": {"epochs": 4, "batch_size": 16, "lr": 0.003, "warmup_epochs": 0, "patience": 100,
                      "augment": {"illumination": "none", "test_illumination": "none", "rotate": 0.0,
                                  "scale": 0.0, "flip": False, "shift": False}, **frame},
            "run": {"progress": False, "seed": 0}}


def _train(out, data, raw, *overrides, resume=False):
    torch.set_num_threads(1)  # tiny models: one thread is fastest (conftest restores the count)
    return Trainer(build_config(raw, list(overrides)), out=out, data=data, resume=resume).run()


def _history(run):
    return json.loads((run / "folds" / "standard" / "result.json").read_text())["frame"]["history"]


def test_the_average_is_selected_and_saved_while_training_follows_the_same_path(tmp_path, bars):
    from safetensors.torch import load_file

    data = bars()
    plain = _train(tmp_path / "plain", data, _config())
    ema = _train(tmp_path / "ema", data, _config(ema=0.8))
    a, b = _history(tmp_path / "plain"), _history(tmp_path / "ema")
    # the trained weights: the same losses and the same validation accuracy epoch by epoch
    assert [r["loss"] for r in a] == [r["loss"] for r in b]
    assert [r["val_acc"] for r in a] == [r["raw_val_acc"] for r in b]
    assert all("raw_val_acc" not in r for r in a)
    assert a[-1]["train_acc"] > 0.6  # it learnt the bars
    # what was selected and saved is the average, not the trained weights
    state = torch.load(tmp_path / "ema" / "state" / "standard_frame.pt", weights_only=True)
    assert state["ema"]["updates"] == sum(math.ceil(r["images"] / 16) for r in b)  # every step
    assert b[state["best_step"] - 1]["val_acc"] == max(r["val_acc"] for r in b)
    saved = load_file(str(tmp_path / "ema" / "folds" / "standard" / "frame.safetensors"))
    trained = load_file(str(tmp_path / "plain" / "folds" / "standard" / "frame.safetensors"))
    assert saved.keys() == trained.keys()  # folded like any other: the paper's layers
    assert any(not torch.equal(saved[k], trained[k]) for k in saved)
    assert yaml.safe_load((tmp_path / "ema" / "config.yaml").read_text())["frame"]["ema"] == 0.8
    assert ema["stages"]["frame"]["pooled"]["accuracy"] > 0.5
    assert plain["stages"]["frame"]["pooled"]["n"] == ema["stages"]["frame"]["pooled"]["n"]


def test_resume_with_an_average_equals_the_uninterrupted_run(tmp_path, bars):
    from safetensors.torch import load_file

    data, raw = bars(), _config(ema=0.8)
    _train(tmp_path / "full", data, raw)
    with pytest.raises(TrainingInterrupted):
        _train(tmp_path / "cut", data, raw, "run.stop_after_epochs=2")
    _train(tmp_path / "cut", data, raw, resume=True)

    def untimed(run):
        return [{k: v for k, v in r.items() if not k.endswith("_s")} for r in _history(run)]

    assert untimed(tmp_path / "cut") == untimed(tmp_path / "full")
    assert all("raw_val_acc" in r for r in untimed(tmp_path / "cut"))
    a = load_file(str(tmp_path / "full" / "folds" / "standard" / "frame.safetensors"))
    b = load_file(str(tmp_path / "cut" / "folds" / "standard" / "frame.safetensors"))
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_digest_at_the_default_is_unchanged_and_bad_values_are_one_line(tmp_path, capsys):
    raw = {**_config(), "data": {"dataset": "fer2013", "root": str(tmp_path / "missing")}}
    base = build_config(raw)
    assert build_config(raw, ["frame.ema=0"]).digest() == base.digest()
    assert build_config(raw, ["frame.ema=0.99"]).digest() != base.digest()
    for value in ("1.0", "-0.1", "true", "fast"):
        with pytest.raises(FertkError, match=r"frame\.ema: must be a decay in \[0, 1\)"):
            build_config(raw, [f"frame.ema={value}"])
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    assert main(["train", str(cfg), "--out", str(tmp_path / "r"), "--set", "frame.ema=1"]) == 1
    err = capsys.readouterr().err
    assert "frame.ema" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r" / "state").exists()
