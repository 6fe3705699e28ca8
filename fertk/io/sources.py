"""Sources of ``fertk run``: files, folders, globs and webcams turned into jobs.

:func:`expand_sources` makes one :class:`MediaItem` per video file or webcam and one for the
still images; :func:`shard` takes one machine's share of them.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from fertk.errors import FertkError
from fertk.io.images import is_image_path, is_video_path


@dataclass
class MediaItem:
    """One job of ``fertk run``: a video file, a webcam, or a group of still images.

    ``kind`` is ``"video"``, ``"webcam"`` or ``"images"``; ``name`` a file-system friendly
    stem used to name the outputs; ``paths`` the image files of an ``"images"`` group;
    ``sequence`` says whether those images are consecutive frames of one clip (tracking and
    temporal heads then run across them) or unrelated stills; ``names`` (stills) the output
    name of each image: its path relative to the folder named (``a/x``, ``b/x`` of ``fertk run
    DIR -r``) or its stem, without extension, unique within the group.
    """

    kind: str
    source: str
    name: str
    paths: list[str] = field(default_factory=list)
    sequence: bool = False
    names: list[str] = field(default_factory=list)

    def still_name(self, path: str) -> str:
        """The output name of still ``path`` (its stem when the group names none)."""
        if self.names:
            return dict(zip(self.paths, self.names, strict=False)).get(path, Path(path).stem)
        return Path(path).stem

    @property
    def key(self) -> str:
        """A stable sort key, used for sharding."""
        return f"{self.kind}:{self.source}"


def _stem(text: str) -> str:
    keep = "".join(c if (c.isalnum() or c in "-_.") else "_" for c in text).strip("._")
    return keep or "source"


def is_webcam(spec: str | int) -> bool:
    return isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit())


def _files(text: str, recursive: bool) -> tuple[list[Path], str]:
    """The files a source names and the label of its image group."""
    path = Path(text).expanduser()
    if path.is_dir():
        found = path.rglob("*") if recursive else path.iterdir()
        files = sorted(p for p in found if p.is_file())
        if not any(is_image_path(p) or is_video_path(p) for p in files):
            inner = [] if recursive else [p for p in path.rglob("*") if p.is_file() and
                                          (is_image_path(p) or is_video_path(p))]
            more = f"; its sub-folders hold {len(inner)} (add -r/--recursive)" if inner else ""
            raise FertkError(f"{text}: holds no image or video file{more}")
        return files, path.resolve().name or "folder"
    if path.is_file():
        return [path], path.stem
    if glob.has_magic(text):
        files = sorted(Path(p) for p in glob.glob(os.path.expanduser(text), recursive=True)
                       if Path(p).is_file())
        if not files:
            raise FertkError(f"{text}: the pattern matches no file")
        return files, _common_label(files)
    raise FertkError(f"{text}: no such file, folder or webcam index")


def _common_dir(dirs: list[str]) -> str:
    """The folder ``dirs`` share; absolute when relative and absolute paths are mixed."""
    try:
        return os.path.commonpath(dirs)
    except ValueError:  # absolute and relative paths (or, on Windows, several drives)
        try:
            return os.path.commonpath([os.path.abspath(d) for d in dirs])
        except ValueError:  # several drives: no common folder
            return "."


def _common_label(files: list[Path]) -> str:
    """A group's name: the one file's stem, else the folder the files share."""
    if len(files) == 1:
        return files[0].stem
    common = Path(os.path.commonpath([str(p.resolve().parent) for p in files]))
    return common.name or "images"


def expand_sources(specs: list[str | int] | tuple[str | int, ...], *, image_sequence: bool = False,
                   recursive: bool = False) -> list[MediaItem]:
    """Turn sources into jobs: each video (file or webcam) one job, the still images one.

    A source is an image file, a video file, a folder (``recursive``: with its sub-folders),
    a glob pattern, or a webcam index (``0``). Still images of all sources form one group,
    named after the one image or the folder they share, so a shell-expanded glob and a quoted
    one give the same outputs; ``image_sequence`` keeps each source's images apart as the
    frames of one clip. Unknown paths raise :class:`FertkError`; job names are made unique.
    """
    items: list[MediaItem] = []
    stills: dict[Path, str] = {}  # still → its name relative to the folder (or files) named
    labels: list[str] = []
    for spec in specs:
        if is_webcam(spec):
            items.append(MediaItem("webcam", str(spec), f"webcam{int(spec)}"))
            continue
        text = os.fspath(spec)
        if not text.strip():  # Path("") is the current folder: never scan it unasked
            raise FertkError("an empty path names no source: pass a file, a folder ('.' for "
                             "the current one), a glob or a webcam index")
        files, label = _files(text, recursive)
        images = [str(p) for p in files if is_image_path(p)]
        videos = [str(p) for p in files if is_video_path(p)]
        if len(files) == 1 and not images and not videos:
            videos = [str(files[0])]  # unknown extension: OpenCV tries it as a video
        if not images and not videos:
            raise FertkError(f"{text}: holds no image or video file")
        items += [MediaItem("video", v, _stem(Path(v).stem)) for v in videos]
        if images and image_sequence:
            items.append(MediaItem("images", text, _stem(label), paths=images, sequence=True))
        if images and not image_sequence:
            folder = Path(text).expanduser()
            root = str(folder) if folder.is_dir() else _common_dir(
                [os.path.dirname(p) or "." for p in images])
            for p in images:
                stills.setdefault(Path(p), Path(os.path.relpath(p, root)).with_suffix("").as_posix())
            labels.append(label)
    if stills:
        paths = list(stills)
        source = str(paths[0]) if len(paths) == 1 else _common_dir(
            [str(p.parent) for p in paths]) or "."
        label = labels[0] if len(labels) == 1 else _common_label(paths)
        items.append(MediaItem("images", source, _stem(label), paths=[str(p) for p in paths],
                               names=_unique(list(stills.values()))))
    for item, name in zip(items, _unique([item.name for item in items]), strict=True):
        item.name = name
    return items


def _unique(names: list[str]) -> list[str]:
    """``names`` with repeats numbered (``x``, ``x-2``, ``x-3``)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(f"{name}-{n + 1}" if n else name)
    return out


def shard(items: list[MediaItem], spec: str | None) -> list[MediaItem]:
    """The part ``I/N`` (0 ≤ I < N) of ``items``: every N-th job of the list sorted by path.

    The split depends only on the list, so N machines given the same sources each take a
    disjoint share and together cover everything (``--shard $SLURM_ARRAY_TASK_ID/N``).
    """
    if not spec:
        return list(items)
    i, n = parse_shard(spec)
    ordered = sorted(items, key=lambda it: it.key)
    return [it for k, it in enumerate(ordered) if k % n == i]


def parse_shard(spec: str) -> tuple[int, int]:
    try:
        a, b = spec.split("/")
        i, n = int(a), int(b)
    except ValueError:
        raise FertkError(f"--shard '{spec}': expected I/N with integers, e.g. 0/4") from None
    if n < 1 or not 0 <= i < n:
        raise FertkError(f"--shard '{spec}': need 0 <= I < N (I counts from 0)")
    return i, n
