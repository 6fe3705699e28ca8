"""Image reading and writing that survives real-world files.

:func:`read_image` always returns a uint8 BGR (H×W×3) array, whatever the file holds: gray,
gray+alpha, RGBA and palette images (alpha is dropped), 16-bit or float TIFF/PNG, and JPEGs whose EXIF orientation tag says the camera was rotated.
Paths with non-ASCII characters work on every platform because the bytes are read with
:func:`numpy.fromfile` and decoded with :func:`cv2.imdecode` rather than :func:`cv2.imread`.

An unreadable, empty, truncated or non-image file raises one :class:`~fertk.errors.FertkError`
naming the file, so callers can report it and carry on with the next one.

Only numpy is imported at module level; OpenCV and Pillow are imported on first use.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fertk.errors import FertkError, one_line

#: File extensions treated as still images (lower case, with the dot).
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".gif"}
)
#: File extensions treated as videos (decoded frame by frame with cv2.VideoCapture).
VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}
)

_EXIF_ORIENTATION_TAG = 0x0112


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def is_video_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def to_uint8_bgr(array: np.ndarray, *, channel_order: str = "bgr") -> np.ndarray:
    """Convert any decoded image array to uint8 BGR H×W×3.

    Handles gray (H×W or H×W×1), gray+alpha (H×W×2), colour (H×W×3), colour+alpha (H×W×4),
    and uint16 / float / bool samples. Alpha is dropped (the colour values are kept as stored;
    fully transparent regions keep whatever colour the file has). ``channel_order`` says
    whether 3/4-channel input is ``"bgr"`` (OpenCV) or ``"rgb"`` (Pillow).

    Sample values, so that an array gives the pixels of the same picture read from disk:
    ``uint16`` is 16-bit (0..65535, as a 16-bit PNG decodes); other integer types hold 8-bit
    values 0..255 (``np.array(img, dtype=int)``), and values outside that range are one
    :class:`FertkError` rather than a guess; floats are 0..1, or 0..255 when larger (never
    stretched), or, above 255, scaled by their maximum (high dynamic range TIFFs). A shape that
    is not an image (channels first, ``(3, H, W)``, as torch keeps them) is one
    :class:`FertkError`.
    """
    import cv2

    a = np.asarray(array)
    _check_shape(a)
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype == np.uint16:
        a = (a.astype(np.uint32) * 255 + 32767) // 65535  # rounded 16 → 8 bit
        a = a.astype(np.uint8)
    elif np.issubdtype(a.dtype, np.floating):
        finite = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        hi = float(finite.max()) if finite.size else 1.0
        scale = 255.0 if hi <= 1.0 else (1.0 if hi <= 255.0 else 255.0 / hi)
        a = np.clip(finite * scale + 0.5, 0, 255).astype(np.uint8)
    elif np.issubdtype(a.dtype, np.integer) and a.dtype != np.uint8:
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo < 0 or hi > 255:
            raise FertkError(
                f"a {a.dtype} array with values {lo}..{hi}: fertk reads integer arrays as 8-bit "
                "values 0..255 (pass uint8, uint16 for a 16-bit image, or floats in 0..1)")
        a = a.astype(np.uint8)
    elif a.dtype != np.uint8:
        raise FertkError(f"an array of {a.dtype} is not an image (expected uint8, uint16, "
                         "other integers 0..255, floats or bool)")
    if a.ndim == 2:
        return cv2.cvtColor(a, cv2.COLOR_GRAY2BGR)
    channels = a.shape[2]
    if channels == 1:
        return cv2.cvtColor(a[:, :, 0], cv2.COLOR_GRAY2BGR)
    if channels == 2:  # gray + alpha
        return cv2.cvtColor(np.ascontiguousarray(a[:, :, 0]), cv2.COLOR_GRAY2BGR)
    rgb_or_bgr = np.ascontiguousarray(a[:, :, :3])
    if channel_order == "rgb":
        return cv2.cvtColor(rgb_or_bgr, cv2.COLOR_RGB2BGR)
    return rgb_or_bgr


def _check_shape(a: np.ndarray) -> None:
    """One :class:`FertkError` unless ``a`` is H×W or H×W×C with C 1..4."""
    shape = tuple(int(n) for n in a.shape)
    if a.ndim == 2 or (a.ndim == 3 and 1 <= shape[2] <= 4):
        if min(shape[:2], default=0) > 0:
            return
        raise FertkError(f"an array of shape {shape} is an empty image")
    hint = ""
    if a.ndim == 3 and shape[0] in (1, 3, 4):
        hint = (f"; it looks like channels first ({shape[0]}, H, W): pass "
                "array.transpose(1, 2, 0)")
    raise FertkError(f"cannot read an array of shape {shape} as an image: expected H×W (gray), "
                     f"H×W×3 (BGR) or H×W×4 (BGRA){hint}")


def _exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1..8) of an encoded image, 1 when absent or unreadable."""
    if not (data[:2] == b"\xff\xd8" or data[:4] in (b"II*\x00", b"MM\x00*") or b"Exif" in data[:64]):
        return 1
    try:
        import io

        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            value = im.getexif().get(_EXIF_ORIENTATION_TAG, 1)
        return int(value) if value in range(1, 9) else 1
    except Exception:
        return 1


def apply_exif_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip a decoded (unrotated) image so it is shown upright (EXIF values 1..8)."""
    ops = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1, :],
        5: lambda a: np.swapaxes(a, 0, 1),  # transpose
        6: lambda a: np.rot90(a, k=-1),  # rotate 90° clockwise
        7: lambda a: np.swapaxes(a[::-1, ::-1], 0, 1),  # transverse
        8: lambda a: np.rot90(a, k=1),  # rotate 90° counter-clockwise
    }
    return np.ascontiguousarray(ops.get(orientation, ops[1])(image))


def _decode_with_pil(data: bytes) -> np.ndarray | None:
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "1"):
                im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.array(im).astype(np.uint32)
                return to_uint8_bgr(np.clip(arr, 0, 65535).astype(np.uint16))
            return to_uint8_bgr(np.array(im), channel_order="rgb")
    except Exception:
        return None


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as uint8 BGR (H×W×3), upright according to its EXIF orientation.

    Raises :class:`FertkError` naming ``path`` when the file is missing, empty, truncated or
    not an image.
    """
    import cv2

    p = Path(path)
    if not p.exists():
        raise FertkError(f"{p}: no such file")
    if p.is_dir():
        raise FertkError(f"{p}: is a folder, not an image file")
    try:
        data = np.fromfile(str(p), dtype=np.uint8)
    except OSError as exc:
        raise FertkError(f"{p}: cannot read file ({exc.strerror or exc})") from exc
    if data.size == 0:
        raise FertkError(f"{p}: empty file, not an image")
    raw = data.tobytes()
    if _looks_truncated(raw):
        raise FertkError(f"{p}: truncated or corrupt image file")
    # IMREAD_UNCHANGED keeps 16-bit depth and alpha; IGNORE_ORIENTATION: we rotate ourselves.
    flags = cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION
    decoded = None
    try:
        decoded = cv2.imdecode(data, flags)
    except cv2.error:
        decoded = None
    if decoded is not None and decoded.size > 0:
        image = to_uint8_bgr(decoded)
    else:
        image = _decode_with_pil(raw)
        if image is None:
            raise FertkError(f"{p}: cannot decode image (corrupt, truncated or not an image)")
    orientation = _exif_orientation(raw)
    if orientation != 1:
        image = apply_exif_orientation(image, orientation)
    return image


def _looks_truncated(data: bytes) -> bool:
    """Cheap end-of-stream checks for the formats whose decoders silently pad missing data."""
    if data[:3] == b"\xff\xd8\xff":  # JPEG must end with EOI (allow trailing padding)
        return b"\xff\xd9" not in data[-64:]
    if data[:8] == b"\x89PNG\r\n\x1a\n":  # PNG must contain IEND
        return b"IEND" not in data[-32:]
    return False


def write_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write ``image`` (uint8 gray or BGR) to ``path`` atomically (whole or not at all,
    :func:`fertk.fsutil.atomic_write`); works with non-ASCII paths."""
    import cv2

    from fertk.fsutil import atomic_write

    p = Path(path)
    ext = p.suffix.lower() or ".png"
    ok, buf = cv2.imencode(ext, image)
    if not ok:
        raise FertkError(f"{p}: cannot encode image as {ext}")
    atomic_write(p, buf.tobytes())
    return p


def iter_images(source: str | os.PathLike, *, recursive: bool = False) -> Iterator[Path]:
    """Image paths of ``source``: a file, a folder (sorted, optionally recursive) or a glob.

    A folder yields every file with an image extension, including ones that will turn out to
    be unreadable (the caller reports those). Raises :class:`FertkError` when ``source``
    matches nothing.
    """
    text = os.fspath(source)
    if not text.strip():  # Path("") is the current folder: never scan it unasked
        raise FertkError("an empty path names no image: pass a file, a folder ('.' for the "
                         "current one) or a glob")
    p = Path(text)
    if p.is_file():
        yield p
        return
    if p.is_dir():
        pattern = "**/*" if recursive else "*"
        files = sorted(f for f in p.glob(pattern) if f.is_file() and is_image_path(f))
        yield from files
        return
    if any(ch in text for ch in "*?["):
        matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
        files = [m for m in matches if m.is_file() and is_image_path(m)]
        if not files:
            raise FertkError(f"{text}: no image files match this pattern")
        yield from files
        return
    raise FertkError(f"{text}: no such file or folder")


def pil_to_bgr(image: Any) -> np.ndarray:
    """A PIL image as uint8 BGR, the pixels :func:`read_image` gives for the file it came from:
    upright by its EXIF orientation, 16-bit and 32-bit integer modes (``I;16``, ``I``) scaled
    from 16 bits (never clipped to white), float mode ``F`` by :func:`to_uint8_bgr`'s rule."""
    from PIL import ImageOps

    try:
        image = ImageOps.exif_transpose(image) or image
    except Exception:  # an unreadable EXIF block: the pixels as stored
        pass
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(image).astype(np.int64)
        return to_uint8_bgr(np.clip(values, 0, 65535).astype(np.uint16))
    if mode == "F":
        return to_uint8_bgr(np.asarray(image))
    if mode in ("L", "RGB"):
        return to_uint8_bgr(np.asarray(image), channel_order="rgb")
    return to_uint8_bgr(np.asarray(image.convert("RGB")), channel_order="rgb")


def to_bgr(image: Any) -> np.ndarray:
    """A uint8 BGR array of a numpy array (BGR, BGRA or gray) or a PIL image (RGB); both give
    the pixels of the same picture read from disk (:func:`to_uint8_bgr`, :func:`pil_to_bgr`)."""
    if hasattr(image, "convert") and hasattr(image, "size") and not isinstance(image, np.ndarray):
        try:
            return pil_to_bgr(image)  # PIL decodes here: a damaged file fails now
        except (OSError, SyntaxError, ValueError) as exc:
            raise FertkError(f"cannot read the PIL image ({one_line(exc)}): a truncated or "
                             "damaged file") from None
    if isinstance(image, np.ndarray):
        if image.dtype.kind in "USO":
            raise FertkError(f"expected an image array, got an array of {image.dtype} (pass "
                             "paths as str, or a list of them)")
        return to_uint8_bgr(image)
    raise FertkError(f"cannot analyze a {type(image).__name__}: pass a path, a list of paths, "
                     "a numpy array (BGR or gray) or a PIL image")
