"""read_image / write_image / iter_images on real files: depths, alpha, EXIF, odd paths."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from fertk.errors import FertkError
from fertk.io.images import iter_images, read_image, write_image


def _pattern(h=40, w=60) -> np.ndarray:
    """An asymmetric RGB pattern, so flips and rotations are detectable."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.linspace(0, 255, w)[None, :]
    img[..., 1] = np.linspace(0, 255, h)[:, None]
    img[:10, :15, 2] = 255
    return img


def test_colour_png_is_bgr(tmp_path, astronaut_path):
    img = read_image(astronaut_path)
    rgb = np.array(Image.open(astronaut_path))
    assert img.shape == (512, 512, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img[..., ::-1], rgb)


def test_gray_becomes_three_channels(tmp_path):
    gray = _pattern()[..., 1]
    Image.fromarray(gray).save(tmp_path / "g.png")
    img = read_image(tmp_path / "g.png")
    assert img.shape == (40, 60, 3)
    np.testing.assert_array_equal(img[..., 0], gray)
    np.testing.assert_array_equal(img[..., 2], gray)


def test_rgba_drops_alpha(tmp_path):
    rgba = np.dstack([_pattern(), np.full((40, 60), 77, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    assert img.shape == (40, 60, 3)
    np.testing.assert_array_equal(img[..., ::-1], rgba[..., :3])


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16_bit_scaled_to_8_bit(tmp_path, ext):
    gray16 = (np.linspace(0, 65535, 60)[None, :].repeat(40, axis=0)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / f"d{ext}"), gray16)
    img = read_image(tmp_path / f"d{ext}")
    assert img.dtype == np.uint8 and img.shape == (40, 60, 3)
    np.testing.assert_array_equal(img[0, :, 0], np.round(gray16[0] / 257.0).astype(np.uint8))
    colour16 = (_pattern().astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / f"c{ext}"), colour16)
    np.testing.assert_array_equal(read_image(tmp_path / f"c{ext}"), _pattern())


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    pil = Image.fromarray(_pattern())
    exif = pil.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    pil.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    path = tmp_path / f"o{orientation}.jpg"
    path.write_bytes(buf.getvalue())
    expected = np.array(ImageOps.exif_transpose(Image.open(path)))[..., ::-1]
    img = read_image(path)
    assert img.shape == expected.shape
    assert np.abs(img.astype(int) - expected.astype(int)).mean() < 2.0  # same upright pixels
    if orientation in (5, 6, 7, 8):
        assert img.shape[:2] == (60, 40)


def test_non_ascii_path_roundtrip(tmp_path, astronaut):
    folder = tmp_path / "visages été" / "日本語"
    path = write_image(folder / "astronaute_ü.png", astronaut)
    assert path.exists()
    np.testing.assert_array_equal(read_image(path), astronaut)
    assert list(iter_images(folder)) == [path]


def test_unreadable_files_raise_one_line_naming_the_file(tmp_path, astronaut_path):
    data = astronaut_path.read_bytes()
    cases = {
        "truncated.png": data[: len(data) // 2],
        "empty.png": b"",
        "text.jpg": b"this is not an image\n" * 10,
    }
    ok, jpg = cv2.imencode(".jpg", cv2.imread(str(astronaut_path)))
    cases["truncated.jpg"] = jpg.tobytes()[:5000]
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(FertkError) as info:
            read_image(tmp_path / name)
        msg = str(info.value)
        assert name in msg and "\n" not in msg
    with pytest.raises(FertkError, match="no such file"):
        read_image(tmp_path / "missing.png")


def test_iter_images_folder_glob_and_errors(tmp_path, astronaut):
    for name in ("b.png", "a.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.png").write_bytes(b"x")
    assert [p.name for p in iter_images(tmp_path)] == ["a.jpg", "b.png"]
    assert [p.name for p in iter_images(tmp_path, recursive=True)] == ["a.jpg", "b.png", "c.png"]
    assert [p.name for p in iter_images(str(tmp_path / "*.png"))] == ["b.png"]
    assert [p.name for p in iter_images(tmp_path / "a.jpg")] == ["a.jpg"]
    with pytest.raises(FertkError, match="no such file or folder"):
        list(iter_images(tmp_path / "nope"))
    with pytest.raises(FertkError, match="no image files match"):
        list(iter_images(str(tmp_path / "*.webp")))
