"""Reliability, third pass (issue #39): bad values, damaged files and odd inputs through the
real entry points. Each test fails on the code before the fix: a traceback, a silent wrong
result or lost data becomes one line (or the right result)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from fertk.cli import main
from fertk.errors import FertkError

DATA = Path(__file__).resolve().parent / "data"
PHOTO = DATA / "astronaut.png"
SYNTH_QUICK = Path(__file__).resolve().parent.parent / "examples" / "configs" / "synth_quick.yaml"


def one_error_line(capsys, code: int) -> str:
    """The command failed with one ``Error:`` line on stderr and no traceback; that line."""
    err = capsys.readouterr().err
    assert code not in (0, None), err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, err
    return errors[0]


def _config(tmp_path: Path, text: str | None = None) -> Path:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text if text is not None else SYNTH_QUICK.read_text(encoding="utf-8"),
                   encoding="utf-8")
    return cfg


# -- C2, S2: training values are typed and bounded in one place ---------------------------------
@pytest.mark.parametrize("override,expected", [
    ("frame.lr=-1", "frame.lr: must be a learning rate in (0, 10] (got -1)"),
    ("frame.lr=.nan", "frame.lr: must be a learning rate in (0, 10] (got nan)"),
    ("frame.lr=.inf", "frame.lr: must be a learning rate in (0, 10] (got inf)"),
    ("frame.weight_decay=-1", "frame.weight_decay: must be a number in [0, 10]"),
    ("frame.label_smoothing=2", "frame.label_smoothing: must be a number in [0, 1)"),
    ("run.device=tpu", "run.device: must be auto, cpu, cuda or cuda:N (got 'tpu')"),
    ("run.seed=abc", "run.seed: must be an integer in [0, 4,294,967,295] (got 'abc')"),
    ("frame.momentum=abc", "frame.momentum: must be a number in [0, 1) (got 'abc')"),
    ("sequence.lr=-1", "sequence.lr: must be a learning rate in (0, 10]"),
    ("frame=1", "frame: expected a mapping, got int"),
    ("frame.patience=-1", "frame.patience: must be an integer in [1, 1,000,000] (got -1)"),
    ("frame.epochs=true", "frame.epochs: must be an integer in [1, 1,000,000] (got True)"),
    ("frame.warmup_epochs=-3", "frame.warmup_epochs: must be an integer in [0, 1,000,000]"),
    ("data.options=1", "data.options: must be a mapping of options"),
    ("sequence.onset=abc", "sequence.onset: must be a number in [0, 1] (got 'abc')"),
])
def test_train_values_out_of_type_or_range_are_one_line(tmp_path, capsys, override, expected):
    code = main(["train", str(_config(tmp_path)), "--set", override, "--out", str(tmp_path / "r")])
    line = one_error_line(capsys, code)
    assert expected in line, line
    assert not (tmp_path / "r").exists()


def test_exponent_numbers_are_numbers_in_files_and_overrides():
    from fertk.training.config import build_config

    assert build_config({}, ["frame.lr=1e-3"]).frame.lr == pytest.approx(0.001)
    assert build_config({"frame": {"lr": "5E-4"}}).frame.lr == pytest.approx(0.0005)  # text: a number
    assert build_config({}, ["frame.epochs=5.0"]).frame.epochs == 5  # an integral float: the int


def test_exponent_number_in_a_yaml_file_is_a_number(tmp_path):
    from fertk.training.config import load_config, read_config_file

    path = _config(tmp_path, "frame: {lr: 1e-3, weight_decay: 5E-4}\nsequence: {lr: 2.0e-3}\n")
    assert read_config_file(path)["frame"]["lr"] == 0.001
    cfg = load_config(path)
    assert (cfg.frame.lr, cfg.frame.weight_decay, cfg.sequence.lr) == (0.001, 0.0005, 0.002)


def test_bounds_leave_every_example_config_and_its_digest_as_it_was():
    import copy

    from fertk.training import config as C
    from fertk.training.bounds import check_values

    root = SYNTH_QUICK.parent
    for path in sorted(root.rglob("*.yaml")):
        raw = C.read_config_file(path)
        merged = C.deep_merge(C.PRESETS[raw.get("preset", "default")], raw)
        cfg = C._from_dict(C.TrainConfig, merged, str(path))
        before = copy.deepcopy(cfg)
        check_values(cfg, str(path))
        assert cfg.digest() == before.digest(), path


# -- C3: a config file with binary bytes ------------------------------------------------------------
def test_binary_config_file_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "bin.yaml"
    cfg.write_bytes(b"frame:\n  lr: \xff\xfe\x00\x81\n")
    line = one_error_line(capsys, main(["train", str(cfg), "--out", str(tmp_path / "r")]))
    assert str(cfg) in line and "not UTF-8 text (byte 0xff at offset 13)" in line


# -- C4: a YAML alias bomb ------------------------------------------------------------------------
BOMB = "data:\n  options:\n    a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"    {n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))


@pytest.mark.parametrize("command", [["train"], ["train", "--print-config"], ["compare"]])
def test_yaml_alias_bomb_is_refused_at_once(tmp_path, capsys, command):
    import time

    cfg = _config(tmp_path, BOMB)
    start = time.perf_counter()
    line = one_error_line(capsys, main([*command[:1], str(cfg), *command[1:],
                                        "--out", str(tmp_path / "r")]))
    assert time.perf_counter() - start < 5  # was minutes, at 3.4 GB
    assert "YAML aliases expand to 387,420,489" not in line  # counted, never expanded
    assert "aliases expand to" in line and "an alias bomb" in line, line


def test_alias_limits_and_what_stays_allowed():
    from fertk import yamlio
    from fertk.clitools import parse_options

    assert yamlio.load("base: &b {lr: 1}\nframe: {<<: *b, epochs: 2}") == {
        "base": {"lr": 1}, "frame": {"lr": 1, "epochs": 2}}  # ordinary anchors still work
    with pytest.raises(yamlio.AliasLimitError, match="contains it"):
        yamlio.load("&a [*a]")
    levels = ["&a [" + ", ".join(["1"] * 9) + "]"] + [
        f"&{n} [" + ", ".join([f"*{p}"] * 9) + "]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)]
    with pytest.raises(FertkError, match="--set 'x': YAML aliases expand .*alias bomb"):
        parse_options([f"x=[{', '.join(levels)}]"], "--set")


# -- C5, S4: crop options bounded ------------------------------------------------------------------
@pytest.mark.parametrize("args,expected", [
    (["run", "-C", "size=100000"], "box crop: size must be an integer in [8, 1024], got 100000"),
    (["run", "-C", "margin=1e9"], "box crop: margin must be a number in (-1, 4], got 1e+09"),
    (["detect", "--save-crops", "CROPS", "-C", "alpha=50"],
     "landmark crop: alpha must be a number in (0, 5], got 50"),
    (["detect", "--save-crops", "CROPS", "-C", "shift=-3"],
     "landmark crop: shift must be a number in [-1, 1], got -3"),
])
def test_crop_options_out_of_range_are_one_line(tmp_path, capsys, args, expected):
    command, *rest = [str(tmp_path / a) if a == "CROPS" else a for a in args]
    out = ["--out", str(tmp_path / "o")] if command == "run" else []
    line = one_error_line(capsys, main([command, str(PHOTO), *rest, *out]))
    assert expected in line, line  # the bundled model keeps its box crop; detect's is landmark
    assert not (tmp_path / "CROPS").exists() or not list((tmp_path / "CROPS").iterdir())


@pytest.mark.parametrize("option,expected", [
    ("scale_factor=1e9", "opencv: scale_factor must be in (1, 4], got 1e+09"),
    ("min_neighbors=-5", "opencv: min_neighbors must be 0 to 100, got -5"),
])
def test_opencv_detector_options_out_of_range_are_one_line(capsys, option, expected):
    line = one_error_line(capsys, main(["detect", str(PHOTO), "-d", "opencv", "-D", option]))
    assert expected in line, line


def test_backbone_input_size_is_bounded():
    import fertk

    with pytest.raises(FertkError, match="input_size must be 8 to 1024 pixels a side, got 100000x100000"):
        fertk.create("backbones", "compact", input_size=100000)


# -- C6, U6: checkpoint metadata against tensor shapes ----------------------------------------------
def _edited_checkpoint(tmp_path: Path, **spec) -> Path:
    from fertk.plugins import get_registry

    src = Path(get_registry("weights").create("compact_tiny-fer2013")).with_suffix("")
    base = tmp_path / "edited"
    shutil.copy(src.with_suffix(".safetensors"), base.with_suffix(".safetensors"))
    meta = json.loads(src.with_suffix(".json").read_text(encoding="utf-8"))
    meta["input_spec"].update(spec)
    base.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    return base.with_suffix(".safetensors")


def test_checkpoint_whose_metadata_contradicts_its_tensors_is_refused(tmp_path, capsys):
    import fertk

    path = _edited_checkpoint(tmp_path, in_chans=3, mean=[0.5] * 3, std=[0.5] * 3)
    with pytest.raises(FertkError, match=r"metadata 'input_spec.in_chans' is 3, but the "
                                         r"'compact_tiny' backbone its tensors fit takes 1"):
        fertk.Pipeline(weights=str(path), engine="torch", device="cpu", threads=1)
    line = one_error_line(capsys, main(["weights", "import", str(path), "--name", "x"]))
    assert "input_spec.in_chans" in line  # not imported as verified


def test_input_spec_message_counts_one_channel_right(tmp_path):
    from fertk.checkpoint import read_metadata

    path = _edited_checkpoint(tmp_path, mean=[0.5, 0.5])
    with pytest.raises(FertkError, match=r"'input_spec.mean' must be a list of 1 number, got"):
        read_metadata(path)


# -- C9: a compare entry file of the wrong shape -----------------------------------------------------
def test_compare_entry_with_seeds_as_text_is_one_line(tmp_path):
    from fertk.training.compare import ENTRY_FORMAT, read_entry

    good = {"format": ENTRY_FORMAT, "config": {}, "classes": ["a", "b"], "cost": {},
            "seeds": [{"seed": 0, "folds": ["f"], "stages": {"frame": {"per_fold": {
                m: [0.5] for m in ("accuracy", "uar", "macro_f1")}}}}]}
    path = tmp_path / "e.json"
    path.write_text(json.dumps(good))
    assert read_entry(path) == good
    for bad, why in (({"seeds": "0"}, "'seeds' is not a list"),
                     ({"seeds": [{"seed": "0"}]}, "'seeds[0].seed' is not an integer"),
                     ({"classes": 3}, "'classes' is not a list")):
        path.write_text(json.dumps({**good, **bad}))
        with pytest.raises(FertkError, match=re.escape(f"damaged compare entry ({why})")):
            read_entry(path)


# -- C10: the Pipeline checks its arguments when it is made ----------------------------------------
def test_pipeline_refuses_bad_arguments_at_construction():
    import torch

    from fertk.pipeline import Pipeline

    for kwargs, expected in (({"device": "tpu"}, r"Pipeline\(device=\) 'tpu': expected auto, cpu"),
                             ({"threads": -1}, r"Pipeline\(threads=\): must be an integer >= 1"),
                             ({"smoothing": float("nan")}, r"Pipeline\(smoothing=\): must be a finite"),
                             ({"context": "x"}, r"Pipeline\(context=\): expected a fertk.plugins.Context"),
                             ({"backbone": torch.nn.Linear(2, 2)},
                              r"backbone=: a Linear is not a backbone \(it lacks input_size"),
                             ({"backbone": 42}, r"backbone=: expected a name or a torch module"),
                             ({"detector": object()}, r"detector=: a object is not a detector \(it "
                                                      r"lacks detect"),
                             ({"crop": 42}, r"crop=: a int is not a crop \(it lacks crop")):
        with pytest.raises(FertkError, match=expected):
            Pipeline(engine="torch", **kwargs)


def test_analyze_refuses_a_context_that_is_not_one():
    import fertk

    with pytest.raises(FertkError, match=r"analyze\(context=\): expected a fertk.plugins.Context"):
        fertk.analyze(str(PHOTO), context="x")


def test_analyze_truncated_pil_image_is_one_error(tmp_path):
    from PIL import Image

    import fertk

    data = PHOTO.read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(FertkError, match="cannot read the PIL image .*truncated or damaged"):
        fertk.io.images.to_bgr(Image.open(cut))


# -- S1: a diverging run stops with one line and saves nothing of it -------------------------------
def test_non_finite_loss_stops_training_and_saves_no_weights(tmp_path, bars):
    from fertk.training.config import build_config
    from fertk.training.finite import TrainingDiverged
    from fertk.training.train import Trainer

    raw = {"name": "nan", "protocol": {"kind": "standard"},
           "model": {"backbone": "compact_tiny", "temporal": None,
                     "backbone_options": {"input_size": 16}},
           "frame": {"epochs": 3, "batch_size": 4, "lr": 10, "optimizer": "sgd",
                     "warmup_epochs": 0, "scheduler": "constant", "label_smoothing": 0.0,
                     "precise_bn": 0, "augment": {"illumination": "none",
                                                  "test_illumination": "none", "rotate": 0.0,
                                                  "scale": 0.0, "flip": False, "shift": False}},
           "run": {"progress": False, "seed": 0}}
    with pytest.raises(TrainingDiverged, match=r"standard frame epoch 1: the training loss is nan "
                                               r"\(training diverged\).*lower frame.lr \(now 10\)"):
        Trainer(build_config(raw), out=tmp_path / "r", data=bars(4)).run()
    assert not list((tmp_path / "r").rglob("*.safetensors"))  # no NaN weights saved
    assert not (tmp_path / "r" / "summary.json").exists()


# -- S3: one DataFrame schema, whatever was found ---------------------------------------------------
def test_to_dataframe_has_the_same_columns_with_and_without_faces():
    import fertk
    from fertk.pipeline import Results

    pipe = fertk.Pipeline(engine="torch", device="cpu", threads=1)
    face = pipe.analyze(str(PHOTO)).to_dataframe()
    blank = pipe.analyze(np.full((64, 64, 3), 127, np.uint8)).to_dataframe()
    empty = Results()
    empty.classes = list(pipe.classes)
    assert list(face.columns) == list(blank.columns) == list(empty.to_dataframe().columns)
    assert {f"p_{c}" for c in pipe.classes} | {f"frame_p_{c}" for c in pipe.classes} <= set(face.columns)
    assert blank["faces"].tolist() == [0] and np.isnan(blank[f"p_{pipe.classes[0]}"]).all()


# -- S5, U10: the parity tolerance of export --------------------------------------------------------
@pytest.mark.parametrize("atol", ["nan", "-1", "0", "inf"])
def test_export_refuses_a_tolerance_that_is_no_check(tmp_path, capsys, atol):
    code = main(["export", "compact_tiny-fer2013", "--out", str(tmp_path / "m"), "--atol", atol])
    line = one_error_line(capsys, code)
    assert "--atol" in line
    assert not list(tmp_path.iterdir())


def test_export_api_refuses_nan_tolerance(tmp_path):
    from fertk.export import export_onnx

    with pytest.raises(FertkError, match=r"--atol nan: must be a finite number"):
        export_onnx("compact_tiny-fer2013", tmp_path / "m", atol=float("nan"))
    assert not list(tmp_path.iterdir())


# -- S6: prepare --json lists every frame it counts as without a face ------------------------------
def test_prepare_json_lists_every_frame_without_a_face(tmp_path, capsys):
    from fertk.synth import SynthConfig, synthesize

    root = tmp_path / "ck"
    synthesize(root, SynthConfig(identities=2, frames=2, size=(128, 128), unlabelled=0,
                                 layouts=("ckplus",)))
    broken = sorted((root / "cohn-kanade-images").rglob("*.png"))[:2]
    for p in broken:
        p.write_bytes(b"not a png")
    capsys.readouterr()
    code = main(["prepare", "ckplus", "--root", str(root), "--detector", "dataset", "--cache-dir",
                 str(tmp_path / "cache"), "--json", "--workers", "1", "-o", "mode=sequence"])
    out = json.loads(capsys.readouterr().out)
    assert code in (0, None)
    assert out["no_face"] == 2 and len(out["no_face_paths"]) == out["no_face"]
    assert {Path(p).name for p in out["no_face_paths"]} == {p.name for p in broken}


# -- S8: detect -r through a symlink loop -----------------------------------------------------------
def test_detect_recursive_symlink_loop_reports_each_image_once(tmp_path, capsys):
    folder = tmp_path / "pics"
    folder.mkdir()
    shutil.copy(PHOTO, folder / "a.png")
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    code = main(["detect", str(folder), "-r", "--json", "--detector", "opencv"])
    records = json.loads(capsys.readouterr().out)
    assert code in (0, None)
    images = [r.get("image") or r.get("source") or r.get("path") for r in records]
    assert len(records) == 1, images


# -- D2: synth never writes into a folder that holds something --------------------------------------
def test_synth_refuses_a_non_empty_folder(tmp_path, capsys):
    root = tmp_path / "ck"
    (root / "Emotion" / "S010" / "001").mkdir(parents=True)
    keep = root / "Emotion" / "S010" / "001" / "S010_001_00000014_emotion.txt"
    keep.write_text("   3.0000000e+00\n")
    line = one_error_line(capsys, main(["synth", str(root), "--identities", "1", "--frames", "2"]))
    assert str(root) in line and "not empty" in line
    assert keep.read_text() == "   3.0000000e+00\n"
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == [keep.name]


# -- U1: a still image named .mp4 --------------------------------------------------------------------
def test_still_named_mp4_declares_no_frame_count(tmp_path):
    from fertk.io.video import probe_video

    fake = tmp_path / "photo.mp4"
    shutil.copy(DATA / "group.jpg", fake)
    try:
        stats = probe_video(str(fake))
    except FertkError:
        return  # refused as a video: also one line
    assert stats.frame_count is None or stats.frame_count >= 1


# -- U2: frame rates codecs refuse -------------------------------------------------------------------
def test_tiny_fps_is_one_line_before_anything_is_written(tmp_path, capsys):
    seq = tmp_path / "seq"
    seq.mkdir()
    shutil.copy(PHOTO, seq / "f0.png")
    out = tmp_path / "o"
    line = one_error_line(capsys, main(["run", str(seq), "--image-sequence", "--fps", "1e-300",
                                        "--out", str(out)]))
    assert "--fps 1e-300: the frame rate must be a positive number from 0.01 to 1000" in line
    assert not out.exists() or not list(out.rglob("*.csv"))


def test_video_writer_takes_the_rate_of_a_huge_stride(tmp_path):
    import cv2

    from fertk.io.video import VideoWriter

    path = tmp_path / "v.mp4"
    with VideoWriter(path, fps=30 / 1e12) as writer:
        writer.write(np.zeros((32, 32, 3), np.uint8))
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened() and cap.read()[0]
    cap.release()


# -- U3: --smooth nan ---------------------------------------------------------------------------------
def test_smooth_nan_is_one_line(tmp_path, capsys):
    line = one_error_line(capsys, main(["run", str(PHOTO), "--smooth", "nan", "--out",
                                        str(tmp_path / "o")]))
    assert "--smooth" in line and "not a finite number" in line


# -- U5: a second train on a folder another process holds -------------------------------------------
def test_train_on_a_held_folder_says_only_that_it_is_held(tmp_path, capsys):
    from fertk.fsutil import folder_lock

    out = tmp_path / "r"
    out.mkdir()
    (out / "config.yaml").write_text("name: x\n")  # a run that stopped before its first epoch
    with folder_lock(out, "--out"):
        code = main(["train", str(_config(tmp_path)), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "another fertk process is writing to this folder" in err
    assert "afresh" not in err, err  # nothing said about a run the folder's writer holds


# -- U7: a pickled pretrained_file -------------------------------------------------------------------
def test_pickled_pretrained_file_refusal_is_whole(tmp_path):
    pytest.importorskip("timm")
    import torch

    import fertk

    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    path = tmp_path / "w.pth"
    torch.save({"x": torch.zeros(2), "evil": Evil()}, path)
    with pytest.raises(FertkError) as info:
        fertk.create("backbones", "timm:resnet18", num_classes=7, pretrained_file=str(path))
    text = str(info.value)
    assert "is a pickle that holds Python objects (builtins.print)" in text
    assert text.endswith("or as .safetensors")  # whole, not cut inside a word


# -- U8: a plugin that raises KeyboardInterrupt when imported ---------------------------------------
def test_plugin_raising_keyboard_interrupt_at_import_is_isolated(fresh_plugins, make_distribution,
                                                                  capsys):
    make_distribution("fertk-ctrlc", "ctrlc", "raise KeyboardInterrupt\n")
    assert main(["list", "detectors"]) in (0, None)
    err = capsys.readouterr().err
    assert "plugin 'ctrlc' failed to load: KeyboardInterrupt" in err


# -- U9: k-fold on one subject -----------------------------------------------------------------------
def test_kfold_on_one_subject_says_so():
    from fertk.splits import subject_kfold

    with pytest.raises(FertkError, match="needs at least 2 subjects, the data has 1$"):
        subject_kfold(["s1", "s1"], k=2)


# -- U11: an empty path is not the current folder ----------------------------------------------------
def test_empty_path_names_no_source(tmp_path, monkeypatch, capsys):
    import fertk

    monkeypatch.chdir(tmp_path)
    shutil.copy(PHOTO, tmp_path / "here.png")  # what an empty path used to pick up
    with pytest.raises(FertkError, match="an empty path names no source"):
        fertk.Pipeline(engine="torch", device="cpu", threads=1).analyze("")
    for command in (["detect", ""], ["detect", "", "-r"], ["run", "", "--out", "o"]):
        line = one_error_line(capsys, main(command))
        assert "an empty path names no source" in line, command


# -- C1: frames of several sizes in one image sequence -----------------------------------------------
def test_landmark_flow_restarts_on_a_frame_of_another_size():
    import cv2

    from fertk.tracking import LandmarkFlow
    from fertk.types import Face

    big = cv2.cvtColor(cv2.imread(str(PHOTO)), cv2.COLOR_BGR2GRAY)
    small = cv2.resize(big, (big.shape[1] // 2, big.shape[0] // 2))
    face = Face(box=(150.0, 60.0, 250.0, 170.0), score=1.0, track_id=1)
    flow = LandmarkFlow()
    flow.reset(big, [face])
    moved, lost = flow.step(small)
    assert moved == [] and lost == [face]
    assert flow.step(small) == ([], [])  # nothing left to follow until the next detection


def test_run_image_sequence_of_mixed_sizes(tmp_path, capsys):
    import cv2

    seq = tmp_path / "seq"
    seq.mkdir()
    img = cv2.imread(str(PHOTO))
    for i in range(3):
        cv2.imwrite(str(seq / f"f{i}.png"), img)
    cv2.imwrite(str(seq / "f3.png"), cv2.resize(img, (img.shape[1] * 3 // 4, img.shape[0] * 3 // 4)))
    out = tmp_path / "o"
    code = main(["run", str(seq), "--image-sequence", "--out", str(out), "--no-annotate",
                 "--engine", "torch"])
    err = capsys.readouterr().err
    assert code in (0, None) and "Traceback" not in err, err
