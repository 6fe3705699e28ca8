"""Fine-tuning: model.init_from with class mapping, frame.freeze / frame.lr_backbone, the
CK+ fine-tuning recipe with its source resolved from the weight registry, timm's pretrained
weights from a local file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fertk.errors import FertkError
from fertk.training.arrays import ArraySet, as_array_set
from fertk.training.config import build_config
from fertk.training.train import Trainer

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["anger", "happy", "sadness", "surprise"]
#: The source knows three of the four classes, in another order: sadness is new to it.
SOURCE_CLASSES = ["surprise", "happy", "anger"]
#: A small BatchNorm compact net on 48x48 input: learns the synthetic expressions in a few epochs.
MODEL = {"backbone": "compact_bn", "temporal": None,
         "backbone_options": {"input_size": 48, "drop": 0.1, "filters": [16, 16, 32, 32]}}
FRAME = {"frames": "last:2", "lr": 0.005, "batch_size": 16, "label_smoothing": 0.0, "init": "default",
         "augment": {"illumination": "none", "test_illumination": "none", "rotate": 0.0, "scale": 0.0}}


def subset(ds: ArraySet, rows: np.ndarray, classes: list[str]) -> ArraySet:
    """Rows of ``ds`` whose class is in ``classes``, relabelled to that class list."""
    names = np.asarray(ds.classes)[ds.labels[rows]]
    rows = rows[np.isin(names, classes)]
    labels = np.asarray([classes.index(c) for c in np.asarray(ds.classes)[ds.labels[rows]]])
    return ArraySet(crops=ds.crops[rows], labels=labels, subjects=ds.subjects[rows],
                    sequences=ds.sequences[rows], frame_index=ds.frame_index[rows],
                    peak=ds.peak[rows], classes=list(classes))


@pytest.fixture(scope="module")
def two_groups(tmp_path_factory):
    """40 synthetic identities × 4 classes × 3 frames: a source set (20 identities, 3 classes)
    and a target set (the 20 others, 4 classes)."""
    from fertk.data import prepare
    from fertk.synth import SynthConfig, synthesize

    root = tmp_path_factory.mktemp("synth_ft")
    synthesize(root, SynthConfig(identities=40, frames=3, size=(128, 128), seed=5, unlabelled=0,
                                 classes=tuple(CLASSES), lighting=0.3, layouts=("ckplus",)))
    cache = tmp_path_factory.mktemp("cache_ft")
    ds = as_array_set(prepare("ckplus", root, detector="dataset", cache_dir=cache, workers=1,
                              progress=False, mode="sequence"))
    first = set(sorted(set(ds.subjects))[:20])
    in_first = np.asarray([s in first for s in ds.subjects])
    return (root, cache, subset(ds, np.flatnonzero(in_first), SOURCE_CLASSES),
            subset(ds, np.flatnonzero(~in_first), CLASSES))


def _cfg(make_config, root, cache, name, model=None, **sections):
    return build_config(make_config(root, cache, name=name, model={**MODEL, **(model or {})},
                                    **sections))


def _history(out: Path) -> dict:
    return json.loads((out / "folds" / "fold01" / "result.json").read_text())


def _first_epoch_reaching(history: list[dict], accuracy: float) -> int | None:
    return next((h["epoch"] for h in history if h["val_acc"] >= accuracy), None)


def _assert_rows_mapped(make_config, root, cache, src) -> None:
    """The classifier rows of shared classes are the source's, found by class name; the new
    class keeps its fresh row; the features are the source's."""
    from fertk.checkpoint import load_checkpoint
    from fertk.training.fold_runner import build_backbone, init_backbone

    cfg = _cfg(make_config, root, cache, "ft", model={"init_from": str(src)})
    net = build_backbone(cfg, len(CLASSES))
    fresh = net.classifier.weight.detach().clone()
    record = init_backbone(cfg, net, CLASSES)
    sd = load_checkpoint(src).state_dicts["backbone"]
    for j, c in enumerate(CLASSES):
        if c in SOURCE_CLASSES:
            i = SOURCE_CLASSES.index(c)
            assert torch.equal(net.classifier.weight[j], sd["classifier.weight"][i]), c
            assert torch.equal(net.classifier.bias[j], sd["classifier.bias"][i]), c
        else:
            assert torch.equal(net.classifier.weight[j], fresh[j]), c
    assert all(torch.equal(v, sd[k]) for k, v in net.state_dict().items() if not k.startswith("classifier."))
    assert record["classifier"] == {"mode": "mapped", "mapped": ["anger", "happy", "surprise"],
                                    "new": ["sadness"]}


def test_classifier_rows_mapped_by_class_name(two_groups, tmp_path, make_config):
    from fertk.checkpoint import save_checkpoint
    from fertk.training.fold_runner import build_backbone

    root, cache, *_ = two_groups
    net = build_backbone(_cfg(make_config, root, cache, "a"), len(SOURCE_CLASSES))
    save_checkpoint(tmp_path / "src", {"backbone": net.state_dict()}, {
        "classes": SOURCE_CLASSES, "backbone": {"name": "compact_bn", "options": MODEL["backbone_options"]},
        "input_spec": net.input_spec})
    _assert_rows_mapped(make_config, root, cache, tmp_path / "src")


def test_fine_tuning_beats_scratch_and_maps_classifier_rows(two_groups, tmp_path, make_config):
    """Pre-trained on 20 identities, fine-tuned on 20 others: the fine-tuned model reaches
    0.4 accuracy on held-out identities in fewer epochs than the same model from scratch."""
    from fertk.checkpoint import load_checkpoint, sha256_file

    root, cache, source, target = two_groups
    Trainer(_cfg(make_config, root, cache, "src", frame={**FRAME, "epochs": 10},
                 protocol={"folds": 5, "only_folds": [0], "selection": "test-fold"}),
            out=tmp_path / "src", data=source).run()
    src = tmp_path / "src" / "folds" / "fold01" / "frame"
    assert _history(tmp_path / "src")["frame"]["test"]["accuracy"] > 0.6  # the source learnt

    _assert_rows_mapped(make_config, root, cache, src)

    runs = {}
    for name, model in (("scratch", {}), ("finetuned", {"init_from": str(src)})):
        Trainer(_cfg(make_config, root, cache, name, model=model, frame={**FRAME, "epochs": 4},
                     protocol={"folds": 3, "only_folds": [0], "selection": "test-fold"}),
                out=tmp_path / name, data=target).run()
        runs[name] = _history(tmp_path / name)
    ft, scratch = runs["finetuned"]["frame"]["history"], runs["scratch"]["frame"]["history"]
    reach_ft, reach_scratch = _first_epoch_reaching(ft, 0.4), _first_epoch_reaching(scratch, 0.4)
    curves = f"fine-tuned {[h['val_acc'] for h in ft]}, scratch {[h['val_acc'] for h in scratch]}"
    assert reach_ft is not None and (reach_scratch is None or reach_ft < reach_scratch), curves
    # provenance: the checkpoint names its source, the mapping and the fine-tuning plan
    meta = load_checkpoint(tmp_path / "finetuned" / "folds" / "fold01" / "frame").metadata["train"]
    assert meta["init_from"]["sha256"] == sha256_file(str(src) + ".safetensors")
    assert meta["init_from"]["classifier"]["new"] == ["sadness"]
    assert meta["fine_tune"] == {"freeze_epochs": 1, "lr_backbone": pytest.approx(0.0005)}
    assert runs["finetuned"]["init_from"]["classes"] == SOURCE_CLASSES


def test_frozen_features_stay_the_sources(two_groups, tmp_path, make_config):
    """``frame.freeze: features`` trains the classifier alone: every other tensor, batch-norm
    statistics included, is the source's after training."""
    from fertk.checkpoint import load_checkpoint

    root, cache, source, target = two_groups
    Trainer(_cfg(make_config, root, cache, "src", frame={**FRAME, "epochs": 1},
                 protocol={"folds": 5, "only_folds": [0]}), out=tmp_path / "src", data=source).run()
    src = tmp_path / "src" / "folds" / "fold01" / "frame"
    Trainer(_cfg(make_config, root, cache, "probe", model={"init_from": str(src)},
                 frame={**FRAME, "epochs": 2, "freeze": "features", "lr_backbone": 0.01},
                 protocol={"folds": 3, "only_folds": [0]}), out=tmp_path / "probe", data=target).run()
    before = load_checkpoint(src).state_dicts["backbone"]
    after = load_checkpoint(tmp_path / "probe" / "folds" / "fold01" / "frame").state_dicts["backbone"]
    body = [k for k in after if not k.startswith("classifier.")]
    assert body and all(torch.equal(after[k], before[k]) for k in body)
    # the classifier learnt (rows of anger, happy, surprise started as the source's 2, 1, 0)
    assert not torch.equal(after["classifier.weight"][[0, 1, 3]], before["classifier.weight"][[2, 1, 0]])


@pytest.mark.parametrize("section, match", [
    ({"frame": {"freeze": "all"}}, "frame.freeze: must be auto, features, none"),
    ({"frame": {"freeze": -1}}, "frame.freeze"),
    ({"frame": {"lr_backbone": "fast"}}, "frame.lr_backbone: must be auto or a learning rate"),
])
def test_fine_tuning_options_are_one_line_errors(section, match):
    with pytest.raises(FertkError, match=match) as err:
        build_config(section)
    assert "\n" not in str(err.value)


def test_architecture_mismatch_names_the_tensors(two_groups, tmp_path, make_config):
    from fertk.checkpoint import save_checkpoint
    from fertk.training.fold_runner import build_backbone, init_backbone

    root, cache, *_ = two_groups
    cfg = _cfg(make_config, root, cache, "a")
    net = build_backbone(cfg, 3)
    save_checkpoint(tmp_path / "src", {"backbone": net.state_dict()}, {
        "classes": SOURCE_CLASSES, "backbone": {"name": "compact_bn", "options": MODEL["backbone_options"]},
        "input_spec": net.input_spec})
    other = _cfg(make_config, root, cache, "b", model={
        "init_from": str(tmp_path / "src"), "backbone_options": {**MODEL["backbone_options"], "input_size": 64}})
    with pytest.raises(FertkError, match=r"shape mismatch.*fc\.0\.weight") as err:
        init_backbone(other, build_backbone(other, 4), CLASSES)
    assert "\n" not in str(err.value) and "input_size" in str(err.value)


def test_ckplus_finetune_recipe_as_written(synth_ck, tmp_path, capsys):
    """The shipped CK+ recipe on a CK+-layout tree, with no option but the data and a short
    budget: it starts from the bundled ``compact-fer2013`` (48x48, its crop), maps the
    classifier rows by class name (contempt is new) and records the source."""
    import yaml

    from fertk.checkpoint import load_checkpoint
    from fertk.cli import main

    root, cache, _ = synth_ck
    recipe = REPO / "examples" / "configs" / "ckplus_finetune.yaml"
    raw = yaml.safe_load(recipe.read_text())
    assert raw["model"]["init_from"] == "compact-fer2013"
    oulu = build_config(yaml.safe_load((REPO / "examples" / "configs" / "oulu_finetune.yaml").read_text()))
    source = load_checkpoint("compact-fer2013")
    for cfg in (build_config(raw), oulu):  # both recipes: the source's model options and crop
        assert cfg.model.init_from == "compact-fer2013"
        assert cfg.model.backbone_options["input_size"] == source.input_spec["input_size"][0] == 48
        assert {"name": cfg.data.crop, "options": cfg.data.crop_options} == source.metadata["crop"]
    out = tmp_path / "run"
    fast = ["data.detector=dataset", f"data.cache_dir={cache}", "protocol.folds=5",
            "protocol.only_folds=[0]", "frame.epochs=1", "sequence.iterations=20",
            "sequence.eval_every=10", "sequence.views=1", "run.progress=false"]
    args = ["train", str(recipe), "--set", f"data.root={root}"]
    for kv in fast:
        args += ["--set", kv]
    assert main([*args, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "classifier rows mapped by class name for 6 of 7 classes (new, freshly initialised: contempt)" in err
    assert "crop differs from the source's" not in err
    res = _history(out)
    assert res["init_from"]["name"] == "compact-fer2013"
    seq = load_checkpoint(out / "folds" / "fold01" / "sequence").metadata["train"]["init_from"]
    assert seq["sha256"] == source.metadata["sha256"]
    assert seq["classifier"]["mode"] == "mapped" and seq["dataset"] == "fer2013"


def test_timm_pretrained_file_and_no_internet(tmp_path, monkeypatch):
    import timm
    from safetensors.torch import save_file

    import fertk

    src = timm.create_model("resnet18", pretrained=False)  # stands for timm's ImageNet weights
    path = tmp_path / "resnet18.safetensors"
    save_file(src.state_dict(), str(path))
    model = fertk.create("backbones", "timm:resnet18", num_classes=7, pretrained=True,
                         pretrained_file=str(path))
    assert torch.allclose(model.model.conv1.weight, src.conv1.weight.sum(1, keepdim=True), atol=1e-5)
    assert torch.equal(model.model.layer3[1].conv2.weight, src.layer3[1].conv2.weight)
    assert model.model.fc.weight.shape == (7, 512) and model.pretrained_source == {"file": str(path)}
    # the xavier initialisation of training touches only the new classifier
    from fertk.training.fold_runner import build_backbone

    cfg = build_config({"model": {"backbone": "timm:resnet18", "backbone_options": {
        "pretrained": True, "pretrained_file": str(path)}}})
    built = build_backbone(cfg, 7)
    assert torch.equal(built.model.layer1[0].conv1.weight, src.layer1[0].conv1.weight)
    # a checkpoint's options rebuild the same model without reading the pretrained file again
    from fertk.training.fold_runner import checkpoint_options

    opts = checkpoint_options(cfg, built.input_spec, 7)
    assert not {"pretrained", "pretrained_file"} & set(opts)
    assert fertk.create("backbones", "timm:resnet18", **opts).input_spec == built.input_spec
    # no file, no weights in the hub cache, no internet: one line
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(FertkError, match="pretrained_file=PATH") as err:
        fertk.create("backbones", "timm:resnet18", num_classes=7, pretrained=True)
    assert "\n" not in str(err.value) and "timm/resnet18" in str(err.value)
    with pytest.raises(FertkError, match="is not a file"):
        fertk.create("backbones", "timm:resnet18", pretrained=True, pretrained_file=str(tmp_path / "x.pth"))


def test_digest_counts_fine_tuning_settings_only_when_set():
    """Runs made before frame.freeze/lr_backbone/ema existed keep their digest (--resume works)."""
    import dataclasses
    import hashlib

    cfg = build_config({})
    d = dataclasses.asdict(cfg)
    for key in ("out", "progress", "stop_after_epochs", "checkpoint_every"):
        d["run"].pop(key)
    for key in ("freeze", "lr_backbone", "ema"):  # ema: added later still, likewise
        d["frame"].pop(key)
    for key in ("class_balance", "logit_adjust", "distill", "distill_temperature"):  # later
        d["frame"].pop(key)
    d["model"].pop("teachers")
    for key in ("geometric", "geometric_options", "illumination_options", "camera",
                "camera_options"):  # likewise, later
        d["frame"]["augment"].pop(key)
    old = hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]
    assert cfg.digest() == old
    assert build_config({"frame": {"freeze": 1}}).digest() != old
    assert build_config({"frame": {"lr_backbone": 0.001}}).digest() != old
