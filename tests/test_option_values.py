"""Option values of detectors and crops checked against their declared types, in one place
(issue #24 C2, S7, S8): one line naming the option, never a traceback, never a silent guess."""

from __future__ import annotations

import math

import pytest

import fertk
from fertk.cli import main
from fertk.errors import FertkError
from fertk.option_types import declared_types
from fertk.plugins import get_registry

PHOTO = "tests/data/astronaut.png"


def _checkable(kind: str) -> list[tuple[str, str, object]]:
    """(component, option, declared type) of every registered detector or crop option whose
    type is bool, int, float or str, or a union of them and None."""
    import typing

    simple = {bool, int, float, str, type(None)}
    out = []
    for spec in get_registry(kind):
        try:
            factory = spec.resolve()
        except FertkError:  # a plugin whose package is missing here
            continue
        for opt, ann in declared_types(factory).items():
            members = set(typing.get_args(ann)) if typing.get_args(ann) else {ann}
            if members <= simple:
                out.append((spec.name, opt, ann))
    return out


@pytest.mark.parametrize("kind", ["detectors", "crops"])
def test_every_option_of_every_detector_and_crop_refuses_a_mapping(kind):
    cases = _checkable(kind)
    names = {c[0] for c in cases}
    assert names >= ({"dlib", "opencv"} if kind == "detectors" else {"landmark", "box", "aligned"})
    for name, opt, _ in cases:
        with pytest.raises(FertkError) as info:
            get_registry(kind).create(name, **{opt: {"a": 1}})
        msg = str(info.value)
        assert f"option {opt}=" in msg and name in msg and "must be" in msg, msg
        assert "\n" not in msg


def test_cli_detector_option_of_the_wrong_type_is_one_line(capsys, tmp_path):
    code = main(["run", PHOTO, "-D", "threshold={a: 1}", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith("Error: detector 'dlib': option threshold={'a': 1} must be a number")


@pytest.mark.parametrize("text,expected", [("true", True), ("yes", True), ("1", True),
                                           ("False", False), ("no", False), ("0", False)])
def test_booleans_accept_true_false_yes_no_1_0(text, expected):
    det = fertk.create("detectors", "opencv", largest=text, equalize=text)
    assert det.largest is expected and det.equalize is expected


@pytest.mark.parametrize("value", ["maybe", "2", 2, 0.5, "", None])
def test_booleans_refuse_anything_else(value):
    with pytest.raises(FertkError, match=r"option largest=.* must be true or false"):
        fertk.create("detectors", "dlib", largest=value)


def test_cli_largest_maybe_is_refused(capsys, tmp_path):
    code = main(["detect", PHOTO, "-D", "largest=maybe"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[-1].startswith("Error: detector 'dlib': option largest='maybe' "
                                            "must be true or false (or yes/no, 1/0); accepted "
                                            "options: model, upsample")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", math.nan, math.inf])
def test_nan_and_inf_thresholds_are_refused(value):
    with pytest.raises(FertkError, match=r"option threshold=.* must be a finite number"):
        fertk.create("detectors", "dlib", threshold=value)
    with pytest.raises(FertkError, match=r"option alpha=.* must be a finite number"):
        fertk.create("crops", "landmark", alpha=value)


def test_cli_threshold_nan_is_one_line(capsys):
    code = main(["detect", PHOTO, "-D", "threshold=nan"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[-1].startswith("Error: detector 'dlib': option threshold='nan' "
                                            "must be a finite number; accepted options:")


def test_values_are_converted_to_the_declared_type():
    det = fertk.create("detectors", "dlib", threshold="0.5", upsample=1.0, max_side="640",
                       min_size=3)
    assert det.threshold == 0.5 and det.upsample == 1 and isinstance(det.upsample, int)
    assert det.max_side == 640 and det.min_size == 3.0
    crop = fertk.create("crops", "box", size="64", margin=0)
    assert crop.size == 64 and crop.margin == 0.0
    with pytest.raises(FertkError, match="option upsample=1.5 must be an integer"):
        fertk.create("detectors", "dlib", upsample=1.5)
    with pytest.raises(FertkError, match="option max_side='big' must be an integer or null"):
        fertk.create("detectors", "dlib", max_side="big")
    with pytest.raises(FertkError, match=r"option border=\['a'\] must be text"):
        fertk.create("crops", "box", border=["a"])
