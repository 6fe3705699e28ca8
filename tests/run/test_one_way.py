"""Issue #26: the model keeps its crop (user options layered over), a run job that flows one
way (typed job and summary), no hidden process-wide state (plugin context, torch threads),
one meaning of "engine" (two builders; ``auto`` falls back for a missing onnxruntime only)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fertk
from fertk import hookimpl
from fertk.errors import FertkError, MissingDependencyError

from .conftest import CLASSES, make_frames

BOX = {"name": "box", "options": {"margin": 0.2, "shift": -0.12}}


@pytest.fixture(scope="module")
def box_checkpoint(tmp_path_factory):
    """A compact_tiny checkpoint (random weights) trained, says its metadata, on
    box(margin=0.2, shift=-0.12) crops of OpenCV boxes, like the bundled model."""
    import torch

    from fertk.backbones.base import input_spec_of
    from fertk.checkpoint import save_checkpoint

    torch.manual_seed(0)
    net = fertk.create("backbones", "compact_tiny", num_classes=len(CLASSES))
    base = tmp_path_factory.mktemp("box") / "tiny_box"
    save_checkpoint(base, {"backbone": net.state_dict()}, {
        "classes": CLASSES, "backbone": {"name": "compact_tiny", "options": {}},
        "crop": BOX, "detector": "opencv", "input_spec": input_spec_of(net),
    })
    return str(base)


# -- item 1: one resolver for detector, crop and their options ------------------------------------
def test_naming_the_models_crop_keeps_its_options(box_checkpoint):
    for crop in (None, "box"):
        pipe = fertk.Pipeline(weights=box_checkpoint, crop=crop, engine="torch")
        assert pipe.crop_name == "box"
        assert (pipe.cropper.margin, pipe.cropper.shift) == (0.2, -0.12)
    # the user's options are layered over the model's: -C margin=0.3 changes the margin only
    pipe = fertk.Pipeline(weights=box_checkpoint, crop="box", crop_options={"margin": 0.3},
                          engine="torch")
    assert (pipe.cropper.margin, pipe.cropper.shift) == (0.3, -0.12)


def test_naming_another_crop_says_what_the_model_was_trained_with(box_checkpoint, capsys):
    from fertk.cli import main

    with pytest.raises(FertkError, match=r"--crop aligned contradicts .*box\(margin=0\.2, "
                                         r"shift=-0\.12\)"):
        fertk.Pipeline(weights=box_checkpoint, crop="aligned", engine="torch")
    image = make_frames(1)[0]
    import cv2

    path = f"{box_checkpoint}.png"
    cv2.imwrite(path, image)
    code = main(["run", path, "--weights", box_checkpoint, "--crop", "landmark", "--out",
                 f"{box_checkpoint}-out"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "box(margin=0.2, shift=-0.12)" in err[0]


def test_eval_naming_the_models_crop_keeps_its_options(box_checkpoint, monkeypatch, tmp_path):
    """``fertk eval --crop box`` prepares the data with the model's box options (margin 0.2,
    shift -0.12) unless ``-C`` changes one; another crop starts from its own defaults."""
    import fertk.data
    from fertk.faces import layered_crop
    from fertk.training.evaluate import evaluate_dataset

    seen = []

    class Prepared(Exception):
        pass

    def prepare(data, **kwargs):
        seen.append((kwargs["crop"], kwargs["crop_options"]))
        raise Prepared

    monkeypatch.setattr(fertk.data, "prepare", prepare)
    import cv2

    (tmp_path / "happy").mkdir()
    cv2.imwrite(str(tmp_path / "happy" / "a.png"), make_frames(1)[0])
    for crop, options in ((None, None), ("box", None), ("box", {"margin": 0.3}), ("landmark", None)):
        with pytest.raises(Prepared):
            evaluate_dataset(box_checkpoint, "folder", tmp_path, crop=crop, crop_options=options,
                             progress=False)
    assert seen == [("box", {"margin": 0.2, "shift": -0.12}), ("box", {"margin": 0.2, "shift": -0.12}),
                    ("box", {"margin": 0.3, "shift": -0.12}), ("landmark", None)]
    assert layered_crop(None, "box", {"margin": 0.1}) == ("box", {"margin": 0.1})


def test_every_default_comes_from_fertk_faces():
    from fertk import crops, detectors, faces
    from fertk.datasets.base import BaseDataset

    assert detectors.DEFAULT_DETECTOR is faces.DEFAULT_DETECTOR
    assert crops.DEFAULT_CROP is faces.DEFAULT_CROP
    assert faces.choose_detector(None, BaseDataset.default_detector) == faces.DEFAULT_DETECTOR
    assert faces.choose_detector(None, "none") == "none"
    assert faces.default_crop(None, None) == faces.DEFAULT_CROP


# -- item 2: a run job that flows one way ---------------------------------------------------------
def test_run_item_describes_the_job_and_run_job_returns_a_typed_summary(media, box_checkpoint,
                                                                       tmp_path):
    from fertk.io.job import Job, JobSummary
    from fertk.io.video import expand_sources
    from fertk.jobs import OutputOptions, run_job

    pipe = fertk.Pipeline(weights=box_checkpoint, engine="torch", stride=2)
    (item,) = expand_sources([str(media["one"])])
    job = pipe.run_item(item)
    assert isinstance(job, Job) and not job.still and job.frame_probs  # smoothed: frame probs
    assert (job.rate, job.fps) == (12.0, 6.0)  # the video's rate, decided once
    assert len(list(job)) == 12
    summary = run_job(pipe, item, tmp_path, OutputOptions(timeline=False))
    assert isinstance(summary, JobSummary) and not summary.stills and summary.error is None
    assert summary.frames == summary["frames"] == 12  # read as the old dict for one release
    written = json.loads((tmp_path / "one.summary.json").read_text())
    assert written["frames"] == 12 and written["files"]["video"] == summary.files["video"]
    import cv2

    cap = cv2.VideoCapture(summary.files["video"])
    assert abs(cap.get(cv2.CAP_PROP_FPS) - 6.0) < 0.01  # the job's rate / stride
    cap.release()
    # stills: RunOutputs writes the annotated images (of every 2nd one), no video, no timeline
    stills = [tmp_path / f"{name}.png" for name in "abc"]
    for p in stills:
        cv2.imwrite(str(p), make_frames(1)[0])
    (group,) = expand_sources([str(p) for p in stills])
    res = run_job(pipe, group, tmp_path / "stills")
    assert res.stills and "video" not in res.files and "timeline" not in res.files
    assert sorted(p.name for p in (tmp_path / "stills" / f"{group.name}.annotated").iterdir()) \
        == ["a.jpg", "c.jpg"]


# -- item 3: no hidden process-wide state ---------------------------------------------------------
def test_thread_count_unchanged_after_a_pipeline_is_built_and_used(box_checkpoint):
    import torch

    before = torch.get_num_threads()
    want = 1 if before != 1 else 2
    pipe = fertk.Pipeline(weights=box_checkpoint, engine="torch", threads=want)
    seen = []
    pipe.model.backbone.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
    assert torch.get_num_threads() == before
    pipe.analyze(make_frames(1)[0])
    pipe.classifier.classify(np.zeros((2, 120, 120), np.uint8))
    assert seen and set(seen) == {want}  # the classifier's threads while it runs ...
    assert torch.get_num_threads() == before  # ... and the caller's count after


class _EverywhereDetector:
    scheme = None

    def detect(self, image):
        from fertk.types import Face

        h, w = image.shape[:2]
        return [Face(box=(0.0, 0.0, float(w), float(h)))]


class _ContextPlugin:
    @hookimpl
    def register_detectors(self, register):
        register("everywhere", lambda **_: _EverywhereDetector(), landmarks=None)


def test_a_pipeline_uses_the_registries_of_its_context(box_checkpoint):
    from fertk.pipeline import ANALYZE_PIPELINE
    from fertk.plugins import Context, get_registry

    ctx = Context()
    ctx.register_plugin(_ContextPlugin(), name="context-only")
    pipe = fertk.Pipeline(weights=box_checkpoint, detector="everywhere", engine="torch",
                          context=ctx)
    assert pipe.detector_name == "everywhere" and pipe.context is ctx
    assert "everywhere" not in get_registry("detectors")  # the default context: untouched
    with pytest.raises(FertkError, match="Unknown detector 'everywhere'"):
        fertk.Pipeline(weights=box_checkpoint, detector="everywhere", engine="torch")
    # fertk.analyze keeps its default pipeline in the context it is given, not in a module
    assert ctx.cached(ANALYZE_PIPELINE, lambda: pipe) is pipe
    res = fertk.analyze(make_frames(1)[0], context=ctx)
    assert len(res.faces) == 1 and res.faces[0].box == (0.0, 0.0, 320.0, 240.0)
    ctx.unregister_plugin("context-only")  # the plugins changed: what was built from them goes
    assert ctx.cached(ANALYZE_PIPELINE, lambda: None) is None


# -- item 4: one meaning of "engine" --------------------------------------------------------------
WHOLE: list = []


def whole_model_classifier(model, threads=None, device="cpu"):
    """A plugin engine's classifier factory (``EngineInfo.classifier``)."""
    WHOLE.append((model, threads, device))
    return ("whole", model)


class _WholeEngine:
    @hookimpl
    def register_engines(self, register):
        register("whole", lambda model, example, **_: None, precision="fp32",
                 classifier=f"{__name__}:whole_model_classifier")


def test_an_engine_that_runs_whole_models_is_a_registration_not_a_special_case(box_checkpoint):
    """build_classifier asks the engines registry: an engine whose registration names a
    classifier runs the whole model (onnxruntime, or a plugin's), any other engine is a
    variant that the torch classifier runs; ``onnx``/``ort`` are registered aliases."""
    from fertk.inference import build_classifier, engine_names, resolve_model
    from fertk.plugins import Context, get_registry

    registry = get_registry("engines")
    assert registry.get("onnxruntime").metadata.classifier == "fertk.inference.runtime:onnx_classifier"
    assert registry.get("ort").name == registry.get("onnx").name == "onnxruntime"
    assert not registry.get("channels_last").metadata.classifier
    ctx = Context()
    ctx.register_plugin(_WholeEngine(), name="whole-engine")
    names = engine_names(ctx)
    assert names[:3] == ["torch", "onnxruntime", "whole"] and "channels_last" in names
    model = resolve_model(weights=box_checkpoint)
    WHOLE.clear()
    assert build_classifier(model, "whole", threads=2, context=ctx) == ("whole", model)
    assert WHOLE == [(model, 2, "cpu")]
    variant = build_classifier(model, "channels_last", context=ctx)
    assert type(variant).__name__ == "TorchClassifier" and variant.name == "channels_last"
    with pytest.raises(FertkError, match=r"--engine 'whole': choose one of auto, torch, onnxruntime"):
        build_classifier(model, "whole")  # the default context does not know it


def test_engine_auto_falls_back_for_a_missing_onnxruntime_only(box_checkpoint, monkeypatch,
                                                               tmp_path):
    import fertk.inference.runtime as runtime
    from fertk.inference import build_classifier, resolve_model

    model = resolve_model(weights=box_checkpoint)
    monkeypatch.setenv("FERTK_CACHE_DIR", str(tmp_path))  # nothing exported yet

    def missing():
        raise MissingDependencyError("engine onnxruntime", "onnxruntime")

    def broken(*args, **kwargs):
        raise FertkError("the export failed")

    with monkeypatch.context() as m:
        m.setattr(runtime, "ort", missing)
        assert build_classifier(model, "auto").name == "torch"
    with monkeypatch.context() as m:
        m.setattr(runtime, "export_backbone", broken)
        with pytest.raises(FertkError, match="the export failed"):
            build_classifier(model, "auto")


def test_torch_threads_are_set_in_one_scoped_place():
    """Only ``fertk.threads.torch_threads`` calls ``torch.set_num_threads`` (inference,
    training on CPU and latency measurements use it), and it gives the count back."""
    from pathlib import Path

    import torch

    from fertk.threads import torch_threads

    root = Path(fertk.__file__).parent
    callers = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                     if "set_num_threads(" in p.read_text(encoding="utf-8"))
    assert callers == ["threads.py"]
    before = torch.get_num_threads()
    with torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
