"""Bad inputs of ``fertk run`` and the Python API (issue #24): one clear line, or the same
faces as the picture read from disk; never a traceback, never a silently wrong result."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from fertk.cli import main
from fertk.io.video import expand_sources

REPO = Path(__file__).resolve().parents[2]
PHOTO = REPO / "tests" / "data" / "astronaut.png"


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    assert lines and lines[-1].startswith("Error: "), err
    return lines[-1]


# -- C1: absolute and relative paths together ----------------------------------------------------
def test_absolute_and_relative_sources_together(tmp_path, monkeypatch):
    shutil.copy(PHOTO, tmp_path / "a.png")
    (tmp_path / "sub").mkdir()
    shutil.copy(PHOTO, tmp_path / "sub" / "b.png")
    monkeypatch.chdir(tmp_path)
    (item,) = expand_sources([str(tmp_path / "a.png"), "sub/b.png"])
    assert item.kind == "images" and len(item.paths) == 2
    assert Path(item.source).resolve() == tmp_path.resolve()


# -- C3, S9: --fps of image sequences --------------------------------------------------------------
@pytest.mark.parametrize("fps", ["nan", "inf", "-5", "0"])
def test_image_sequence_fps_must_be_positive_and_finite(fps, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", str(PHOTO), str(PHOTO), "--image-sequence", "--fps", fps, "--out", str(out)])
    line = _one_error_line(capsys.readouterr().err)
    assert code != 0 and "--fps" in line and "positive" in line, line
    assert not out.exists() or not list(out.iterdir())


def test_pipeline_refuses_a_bad_fps():
    from fertk.errors import FertkError
    from fertk.pipeline import Pipeline

    for fps in (0, -5, float("nan"), float("inf")):
        with pytest.raises(FertkError, match="fps"):
            Pipeline(fps=fps)


# -- C4: --out where no folder can be ------------------------------------------------------------
def test_run_out_under_a_file_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    for out in (blocker, blocker / "sub"):
        code = main(["run", str(PHOTO), "--out", str(out)])
        line = _one_error_line(capsys.readouterr().err)
        assert code in (1, 2) and "--out" in line and str(out) in line and "is a file" in line
    assert blocker.read_text() == "x"


def test_run_out_that_cannot_be_created_is_one_line(tmp_path, capsys, monkeypatch):
    """A folder the user may not write in (``os.access`` says no: root passes every
    permission check, so the refusal is simulated)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == locked
                        else real(p, mode, **kw))
    code = main(["run", str(PHOTO), "--out", str(locked / "out")])
    line = _one_error_line(capsys.readouterr().err)
    assert code == 1 and "no permission to write in" in line and str(locked) in line


# -- S1-S4: every picture the API takes is the picture read from disk ---------------------------
def _disk():
    from fertk.io.images import read_image

    return read_image(PHOTO)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16, np.uint32, np.int8])
def test_integer_arrays_are_8_bit_values(dtype):
    from fertk.api import to_bgr

    img = _disk()
    if dtype is np.int8:
        img = img // 2  # int8 holds 0..127
    np.testing.assert_array_equal(to_bgr(img.astype(dtype)), img)


@pytest.mark.parametrize("values", [(-1, 10), (0, 256), (0, 4095)])
def test_integer_arrays_outside_0_255_are_one_error(values):
    from fertk.api import to_bgr
    from fertk.errors import FertkError

    arr = np.array([[values[0], values[1]]] * 2, dtype=np.int32)
    with pytest.raises(FertkError, match=r"int32 array with values .* 0\.\.255"):
        to_bgr(arr)


def test_float_arrays_of_8_bit_values_are_not_stretched():
    from fertk.api import to_bgr

    img = _disk() // 2  # at most 127: stretching it to 255 would change every pixel
    np.testing.assert_array_equal(to_bgr(img.astype(np.float32)), img)
    np.testing.assert_array_equal(to_bgr(img.astype(np.float64) / 255.0), img)


def test_pil_16_bit_gray_is_the_picture_on_disk(tmp_path):
    import cv2
    from PIL import Image

    from fertk.api import to_bgr
    from fertk.io.images import read_image

    gray16 = cv2.cvtColor(_disk(), cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
    path = tmp_path / "g16.png"
    cv2.imwrite(str(path), gray16)
    disk = read_image(path)
    assert disk.mean() > 20  # not black, not white
    images = [Image.open(path), Image.fromarray(gray16), Image.fromarray(gray16.astype(np.int32))]
    assert images[1].mode.startswith("I;16") and images[2].mode == "I"
    for image in images:
        np.testing.assert_array_equal(to_bgr(image), disk)


def test_pil_image_is_turned_upright_by_its_exif_orientation(tmp_path):
    from PIL import Image

    from fertk.api import to_bgr
    from fertk.io.images import read_image

    upright = Image.fromarray(_disk()[:, :, ::-1])
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # the camera held sideways
    exif = stored.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to show"
    path = tmp_path / "sideways.jpg"
    stored.save(path, "JPEG", exif=exif.tobytes(), quality=95)
    disk = read_image(path)
    assert disk.shape[:2] == _disk().shape[:2]
    pil = to_bgr(Image.open(path))
    assert pil.shape == disk.shape  # upright, like the file read from disk
    assert np.abs(pil.astype(int) - disk.astype(int)).mean() < 1.0  # two JPEG decoders


@pytest.mark.parametrize("shape", [(3, 64, 48), (1, 64, 48), (4, 64, 48), (64, 48, 5)])
def test_channels_first_and_odd_channel_counts_are_one_error(shape):
    from fertk.api import to_bgr
    from fertk.errors import FertkError

    with pytest.raises(FertkError) as info:
        to_bgr(np.zeros(shape, np.uint8))
    msg = str(info.value)
    assert str(shape).replace(" ", "") in msg.replace(" ", "") and "H×W" in msg
    if shape[0] in (1, 3, 4):
        assert "channels first" in msg and "transpose(1, 2, 0)" in msg


# -- U4: unreadable images are named on screen --------------------------------------------------
def test_run_dir_names_the_unreadable_images_it_skipped(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(PHOTO, folder / "good.png")
    data = PHOTO.read_bytes()
    (folder / "cut.png").write_bytes(data[: len(data) // 3])
    (folder / "notes.jpg").write_text("not an image")
    code = main(["run", str(folder), "--out", str(tmp_path / "out"), "--no-annotate"])
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err, err
    assert "warning: photos: 2 unreadable image(s) skipped:" in err
    assert f"{folder / 'cut.png'}: truncated or corrupt image file" in err
    assert str(folder / "notes.jpg") in err
