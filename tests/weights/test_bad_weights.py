"""Weights that must not load (issue #24): tensors holding NaN or Inf (S5), a pickle given to
``fertk weights import`` (U2); one line each, naming the file."""

from __future__ import annotations

import math

import pytest
import torch

from fertk.checkpoint import build_from_checkpoint, load_checkpoint, save_checkpoint
from fertk.cli import main
from fertk.errors import FertkError


def _tiny(tiny_plugins):
    import fertk

    torch.manual_seed(0)
    return fertk.create("backbones", "tinynet", num_classes=3, width=4)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_weights_holding_nan_or_inf_are_refused(bad, tiny_plugins, tmp_path, make_meta, capsys):
    sd = _tiny(tiny_plugins).state_dict()
    sd["fc.weight"][1, 2] = bad
    base = tmp_path / "bad"
    save_checkpoint(base, {"backbone": sd}, make_meta())
    with pytest.raises(FertkError) as info:
        load_checkpoint(base)
    msg = str(info.value)
    assert msg.startswith(f"{base}.safetensors: ") and "backbone.fc.weight" in msg
    assert ("NaN" if math.isnan(bad) else "infinite") in msg and "\n" not in msg
    capsys.readouterr()
    code = main(["weights", "import", f"{base}.safetensors", "--name", "bad"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and "backbone.fc.weight" in err
    assert not list((tiny_plugins_cache := tmp_path / "cache").glob("weights/bad*")), \
        tiny_plugins_cache


def test_finite_weights_still_load(tiny_plugins, tmp_path, make_meta):
    net = _tiny(tiny_plugins)
    save_checkpoint(tmp_path / "ok", {"backbone": net.state_dict()}, make_meta())
    backbone, _ = build_from_checkpoint(load_checkpoint(tmp_path / "ok"))
    assert all(torch.equal(a, b) for a, b in zip(backbone.state_dict().values(),
                                                 net.state_dict().values(), strict=True))


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin"])
def test_weights_import_of_a_pickle_says_pickles_are_refused(suffix, tiny_plugins, tmp_path,
                                                              capsys):
    evil = tmp_path / f"evil{suffix}"
    torch.save({"w": torch.zeros(2)}, evil)
    code = main(["weights", "import", str(evil)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    (line,) = [ln for ln in err.splitlines() if ln.startswith("Error:")]
    assert f"{evil}: a PyTorch pickle checkpoint" in line and "not found" not in line
    assert "save_checkpoint" in line  # how to convert
