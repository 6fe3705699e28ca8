"""fertk.checkpoint: atomic safetensors + JSON checkpoints, validation, loading, building."""

from __future__ import annotations

import json
import os

import pytest
import torch

from fertk.checkpoint import (
    Checkpoint,
    build_from_checkpoint,
    check_compatible,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
    sha256_file,
    validate_metadata,
)
from fertk.errors import FertkError


def _trained_tiny(tiny_plugins, seed=0):
    import fertk

    torch.manual_seed(seed)
    net = fertk.create("backbones", "tinynet", num_classes=3, width=4)
    with torch.no_grad():  # non-default running stats must survive the round trip
        net.bn.running_mean.uniform_(-1, 1)
        net.bn.running_var.uniform_(0.5, 2)
    return net


def test_round_trip_builds_identical_model(tiny_plugins, tmp_path, make_meta):
    net = _trained_tiny(tiny_plugins)
    out = save_checkpoint(tmp_path / "run" / "best", {"backbone": net.state_dict()}, make_meta())
    assert out == tmp_path / "run" / "best.safetensors"
    assert out.is_file() and (tmp_path / "run" / "best.json").is_file()
    # no temporary files left behind
    assert sorted(p.name for p in out.parent.iterdir()) == ["best.json", "best.safetensors"]
    meta = json.loads((tmp_path / "run" / "best.json").read_text())
    assert meta["sha256"] == sha256_file(out)
    assert meta["fertk_version"] and meta["parts"] == ["backbone"]
    for source in (tmp_path / "run" / "best", out, tmp_path / "run" / "best.json", str(out)):
        ckpt = load_checkpoint(source)
        assert isinstance(ckpt, Checkpoint) and ckpt.path == out
        assert ckpt.classes == ["anger", "happy", "neutral"]
    backbone, head = build_from_checkpoint(ckpt)
    assert head is None and not backbone.training
    net.eval()
    x = torch.randn(2, 1, 16, 16)
    assert torch.equal(backbone(x), net(x))


def test_temporal_part_round_trip(tiny_plugins, tmp_path, make_meta):
    import fertk

    net = _trained_tiny(tiny_plugins)
    head = fertk.create("temporal", "tinyhead", num_classes=3, input_dim=3)
    meta = make_meta(temporal={"name": "tinyhead", "options": {"input_kind": "probs"}})
    save_checkpoint(tmp_path / "seq", {"backbone": net.state_dict(), "temporal": head.state_dict()}, meta)
    b2, h2 = build_from_checkpoint(tmp_path / "seq")
    assert h2 is not None and not h2.training
    seq = torch.randn(1, 9, 3)
    head.eval()
    assert torch.equal(h2(seq), head(seq))


def test_empty_temporal_part_survives(tiny_plugins, tmp_path, make_meta):
    class Average(torch.nn.Module):  # parameter-free head, like 'average'
        def __init__(self, num_classes, input_dim, input_kind="probs"):
            super().__init__()

        def forward(self, x):
            return x.mean(1)

    tiny_plugins.get_registry("temporal").register("avg_test", Average)
    net = _trained_tiny(tiny_plugins)
    meta = make_meta(temporal={"name": "avg_test", "options": {}})
    save_checkpoint(tmp_path / "avg", {"backbone": net.state_dict(), "temporal": {}}, meta)
    ckpt = load_checkpoint(tmp_path / "avg")
    assert ckpt.state_dicts["temporal"] == {}
    _, head = build_from_checkpoint(ckpt)
    assert isinstance(head, Average)


def test_invalid_metadata_writes_nothing(tiny_plugins, tmp_path, make_meta):
    net = _trained_tiny(tiny_plugins)
    bad = make_meta()
    del bad["classes"]
    with pytest.raises(FertkError, match="lacks required key.*classes"):
        save_checkpoint(tmp_path / "x", {"backbone": net.state_dict()}, bad)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"classes": []}, "'classes' must be a non-empty list"),
        ({"classes": ["a", "a"]}, "duplicates"),
        ({"backbone": {"options": {}}}, "'backbone' must be"),
        ({"temporal": {"name": "gru", "options": 3}}, "'temporal.options' must be a dict"),
        ({"input_spec": {"input_size": [64], "in_chans": 1, "mean": [0], "std": [1]}}, "input_size"),
        ({"input_spec": {"input_size": [64, 64], "in_chans": 2, "mean": [0], "std": [1]}}, "in_chans"),
        ({"input_spec": {"input_size": [64, 64], "in_chans": 1, "mean": [0, 0], "std": [1]}}, "mean"),
        ({"input_spec": {"input_size": [64, 64], "in_chans": 1, "mean": [0], "std": [0]}}, "positive"),
        ({"detector": 5}, "'detector' must be a name or null"),
        ({"train": []}, "'train' must be a dict"),
    ],
)
def test_validate_metadata_errors(make_meta, change, message):
    meta = make_meta()
    meta.update(change)
    with pytest.raises(FertkError, match=message):
        validate_metadata(meta, where="x.json")


def test_validate_metadata_normalises(make_meta):
    meta = make_meta(backbone="tinynet", crop="box")
    out = validate_metadata(meta)
    assert out["backbone"] == {"name": "tinynet", "options": {}}
    assert out["crop"] == {"name": "box", "options": {}}
    assert out["input_spec"]["crop_size"] == 96 and out["input_spec"]["mean"] == [0.5]


def test_corrupt_tensor_file_is_checksum_error(tiny_plugins, tmp_path, make_meta):
    net = _trained_tiny(tiny_plugins)
    path = save_checkpoint(tmp_path / "c", {"backbone": net.state_dict()}, make_meta())
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # flip bits inside the last tensor
    path.write_bytes(bytes(data))
    with pytest.raises(FertkError, match="checksum mismatch"):
        load_checkpoint(path)
    # without verification the (still well-formed) file loads
    assert load_checkpoint(path, verify=False).state_dicts["backbone"]


def test_garbage_files_are_one_line_errors(tmp_path, tiny_plugins, make_meta):
    (tmp_path / "g.json").write_text("{not json")
    (tmp_path / "g.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(FertkError, match="not a valid JSON"):
        load_checkpoint(tmp_path / "g")
    meta = validate_metadata(make_meta())
    (tmp_path / "g.json").write_text(json.dumps(meta))
    with pytest.raises(FertkError, match="not a readable safetensors"):
        load_checkpoint(tmp_path / "g")
    with pytest.raises(FertkError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nothing.safetensors")
    with pytest.raises(FertkError, match="Unknown weights 'no-such-weights'"):
        load_checkpoint("no-such-weights")


def test_pickle_files_are_never_loaded(tmp_path, tiny_plugins, make_meta):
    """A torch pickle renamed to .safetensors is refused, not unpickled."""
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"x": Evil()}, tmp_path / "e.safetensors")
    (tmp_path / "e.json").write_text(json.dumps(validate_metadata(make_meta())))
    with pytest.raises(FertkError):
        load_checkpoint(tmp_path / "e")
    assert not marker.exists()


def test_build_detects_backbone_mismatch(tiny_plugins, tmp_path, make_meta):
    net = _trained_tiny(tiny_plugins)
    meta = make_meta()
    meta["backbone"]["options"]["width"] = 6  # weights were trained with width 4
    save_checkpoint(tmp_path / "m", {"backbone": net.state_dict()}, meta)
    with pytest.raises(FertkError, match="backbone mismatch.*shape mismatch"):
        build_from_checkpoint(tmp_path / "m")


def test_build_detects_class_count_mismatch(tiny_plugins, tmp_path, make_meta):
    net = _trained_tiny(tiny_plugins)
    meta = make_meta(classes=["anger", "happy", "neutral", "fear"])
    save_checkpoint(tmp_path / "k", {"backbone": net.state_dict()}, meta)
    with pytest.raises(FertkError, match="backbone mismatch.*fc.weight"):
        build_from_checkpoint(tmp_path / "k")
    meta = make_meta()
    meta["backbone"]["options"]["num_classes"] = 5
    save_checkpoint(tmp_path / "k2", {"backbone": net.state_dict()}, meta)
    with pytest.raises(FertkError, match="class-set mismatch"):
        build_from_checkpoint(tmp_path / "k2")


def test_check_compatible(make_meta):
    meta = validate_metadata(make_meta())
    check_compatible(meta, classes=["anger", "happy", "neutral"], backbone="tinynet")
    with pytest.raises(FertkError, match="class-set mismatch: order differs"):
        check_compatible(meta, classes=["happy", "anger", "neutral"])
    with pytest.raises(FertkError, match="class-set mismatch: checkpoint has"):
        check_compatible(meta, classes=["anger", "happy"])
    with pytest.raises(FertkError, match="backbone mismatch.*'tinynet'.*'compact'"):
        check_compatible(meta, backbone="compact")
    with pytest.raises(FertkError, match="temporal head mismatch"):
        check_compatible(meta, temporal="gru")


def test_read_metadata_without_torch_tensors(tiny_plugins, tmp_path, make_meta):
    net = _trained_tiny(tiny_plugins)
    save_checkpoint(tmp_path / "r", {"backbone": net.state_dict()}, make_meta())
    meta = read_metadata(tmp_path / "r.safetensors")
    assert meta["crop"] == {"name": "box", "options": {"margin": 0.2}}


def test_pickle_checkpoint_is_refused_by_name_with_the_conversion(tmp_path, monkeypatch, capsys):
    """``--weights model.pt`` names the file as a refused pickle (it exists), and the recipe of
    docs/weights.md turns it into a checkpoint fertk runs."""
    import re
    from pathlib import Path

    import fertk
    from fertk.cli import main

    classes = ["anger", "disgust", "fear", "happy", "sadness", "surprise", "neutral"]
    net = fertk.create("backbones", "compact", num_classes=len(classes))
    torch.save(net.state_dict(), tmp_path / "model.pt")
    monkeypatch.chdir(tmp_path)
    photo = Path(__file__).resolve().parents[1] / "data" / "astronaut.png"
    for given in ("model.pt", str(tmp_path / "model.pt")):
        code = main(["run", str(photo), "--weights", given, "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 1 and "Traceback" not in err, err
        (line,) = [ln for ln in err.splitlines() if ln.startswith("Error:")]
        assert "model.pt: a PyTorch pickle checkpoint" in line and "not found" not in line
        assert "save_checkpoint" in line and "docs/weights.md" in line
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(FertkError, match="notes.txt: not a fertk checkpoint"):
        load_checkpoint("notes.txt")
    # the conversion, exactly as documented
    doc = (Path(__file__).resolve().parents[2] / "docs" / "weights.md").read_text()
    recipe = re.search(r"### Converting a PyTorch checkpoint.*?```python\n(.*?)```", doc, re.S).group(1)
    exec(recipe, {})
    ckpt = load_checkpoint(tmp_path / "model.safetensors")
    backbone, _ = build_from_checkpoint(ckpt)
    assert ckpt.metadata["classes"] == classes
    assert all(torch.equal(a, b) for a, b in zip(backbone.state_dict().values(),
                                                 net.state_dict().values(), strict=True))
