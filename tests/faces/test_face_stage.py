"""The face stage (fertk.faces): detector/crop defaults and compatibility decided once, and
the same crops from ``fertk detect`` and ``fertk run``."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from fertk.errors import FertkError
from fertk.faces import FaceStage, WholeImage, detector_landmarks, settle_crop
from fertk.types import Face


class BoxOnly:
    scheme = None

    def detect(self, image):
        return [Face(box=(10.0, 10.0, 60.0, 60.0), score=0.9)]


class Silent:
    """A detector that says nothing about its landmarks (no ``scheme``, no ``landmarks``)."""

    def detect(self, image):
        return []


def test_landmarks_of_names_and_objects():
    assert detector_landmarks("dlib") and not detector_landmarks("opencv")
    assert detector_landmarks("dataset") and not detector_landmarks("none")
    assert not detector_landmarks(BoxOnly())
    assert detector_landmarks(object())  # says nothing: the caller is trusted


def test_crop_defaults_follow_the_detector():
    assert settle_crop("dlib") == ("landmark", {})
    assert settle_crop("opencv") == ("box", {})
    assert settle_crop(BoxOnly()) == ("box", {})
    assert settle_crop("none") == ("box", {"margin": 0.0})
    assert settle_crop("opencv", "box", {"size": 64}) == ("box", {"size": 64})
    model_crop = {"name": "landmark", "options": {"size": 48}}
    assert settle_crop("dlib", model_crop=model_crop) == ("landmark", {"size": 48})
    # the model keeps its crop: naming it again keeps its options, the user's are layered over
    assert settle_crop("dlib", "landmark", model_crop=model_crop) == ("landmark", {"size": 48})
    assert settle_crop("dlib", "landmark", {"alpha": 1.2}, model_crop=model_crop) \
        == ("landmark", {"size": 48, "alpha": 1.2})
    with pytest.raises(FertkError, match=r"--crop box contradicts the model, trained with crop "
                                         r"landmark\(size=48\)"):
        settle_crop("dlib", "box", model_crop=model_crop)


@pytest.mark.parametrize("detector", ["opencv", "none", BoxOnly()])
def test_landmark_crop_with_box_only_detector_is_one_line_error(detector):
    with pytest.raises(FertkError, match="needs landmarks") as info:
        settle_crop(detector, "landmark")
    assert "\n" not in str(info.value) and "--crop box" in str(info.value)


@pytest.mark.parametrize("detector", ["opencv", BoxOnly()])
def test_crop_fixed_by_the_model_suggests_only_a_detector(detector):
    """A checkpoint trained with a landmark crop refuses --crop box (settle_crop), so the
    box-only-detector error suggests a detector with landmarks and not --crop box."""
    model_crop = {"name": "landmark", "options": {"size": 48}}
    with pytest.raises(FertkError, match="needs landmarks") as info:
        settle_crop(detector, model_crop=model_crop)
    text = str(info.value)
    assert "\n" not in text and "--crop" not in text and "detector with landmarks" in text
    with pytest.raises(FertkError, match="contradicts the checkpoint"):
        settle_crop(detector, "box", model_crop=model_crop, model_label="the checkpoint")


def test_unknown_names_fail_early():
    with pytest.raises(FertkError):
        settle_crop("no-such-detector")
    with pytest.raises(FertkError):
        settle_crop("dlib", "no-such-crop")


def test_stage_with_objects_and_degenerate_faces(astronaut):
    stage = FaceStage(BoxOnly(), None)
    assert stage.detector_name == "BoxOnly" and stage.crop_name == "box"
    faces = stage.faces(astronaut)
    bad = Face(box=(5.0, 5.0, 5.0, 5.0), score=0.1, landmarks=np.zeros((68, 2)), scheme="dlib68")
    errors = []
    lm_stage = FaceStage(Silent(), "landmark")  # a detector that says nothing: trusted
    out = lm_stage.crops(astronaut, [faces[0], bad], lambda i, exc: errors.append(i))
    assert out == [None, None] and errors == [0, 1]  # no landmarks / a degenerate face
    (crop,) = stage.crops(astronaut, faces)
    assert crop.image.shape == (120, 120)
    assert FaceStage("none").faces(astronaut)[0].box == (0.0, 0.0, 512.0, 512.0)
    assert isinstance(FaceStage("none").detector, WholeImage)
    only = FaceStage("opencv", "landmark", with_crops=False)  # faces only: no crop to check
    assert only.cropper is None


def test_detect_and_run_give_the_same_crops(tmp_path, astronaut_path, astronaut, torch_threads):
    import fertk
    from fertk.cli import cli
    from fertk.pipeline import Pipeline

    out = tmp_path / "crops"
    res = CliRunner().invoke(cli, ["detect", str(astronaut_path), "--save-crops", str(out)])
    assert res.exit_code == 0, res.output
    (png,) = out.glob("*.png")
    from_detect = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)

    backbone = fertk.create("backbones", "compact_tiny", num_classes=7)
    pipe = Pipeline(backbone=backbone, crop="landmark", engine="torch", device="cpu", threads=1)
    seen = []
    classify = pipe.classifier.classify

    def spy(crops):
        seen.append(np.array(crops))
        return classify(crops)

    pipe.classifier.classify = spy
    pipe.analyze(astronaut)
    assert pipe.detector_name == "dlib" and pipe.crop_name == "landmark"
    (from_run,) = np.concatenate(seen)
    assert from_run.shape == from_detect.shape and np.array_equal(from_run, from_detect)


def test_run_and_prepare_settle_the_crop_the_same_way(torch_threads):
    import fertk
    from fertk.data.prepare import _resolve_components
    from fertk.pipeline import Pipeline

    class DataSet:
        name, default_detector = "toy", "dlib"

    assert _resolve_components(DataSet(), None, None, None, None)[1] == "landmark"
    _, crop, _, options = _resolve_components(DataSet(), "opencv", None, None, None)
    assert (crop, options) == ("box", {})
    _, crop, _, options = _resolve_components(DataSet(), "none", None, None, {"size": 48})
    assert (crop, options) == ("box", {"margin": 0.0, "size": 48})
    with pytest.raises(FertkError, match="needs landmarks"):
        _resolve_components(DataSet(), "opencv", "landmark", None, None)
    backbone = fertk.create("backbones", "compact_tiny", num_classes=7)
    with pytest.raises(FertkError, match="needs landmarks"):
        Pipeline(detector="opencv", crop="landmark", backbone=backbone, engine="torch",
                 device="cpu", threads=1)
    pipe = Pipeline(detector="opencv", backbone=backbone, engine="torch", device="cpu", threads=1)
    assert pipe.crop_name == "box"
