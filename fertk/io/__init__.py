"""Input/output helpers: robust image reading (:mod:`fertk.io.images`) and media sources."""

from __future__ import annotations

from fertk.io.images import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    is_image_path,
    is_video_path,
    iter_images,
    read_image,
    write_image,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "is_image_path",
    "is_video_path",
    "iter_images",
    "read_image",
    "write_image",
]
