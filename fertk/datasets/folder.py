"""Generic folder data sets: stills ``root/<class>/<image>`` and sequences ``root/<class>/<sequence>/<frames>``.

Class folder names are mapped to canonical classes where they are known spellings
(``angry`` → ``anger``, ``happiness`` → ``happy``, …); other names are kept as they are
(``smile``/``no_smile``, motion classes), ordered after the canonical ones. The subject of
a still or a sequence comes from its file (or sequence folder) name through
``subject_pattern``: a regular expression whose group ``subject`` (or first group) is the
subject id; without a match the item is its own subject and the report counts it.
"""

from __future__ import annotations

import re
from typing import Any

from fertk.datasets.base import BaseDataset, canonical_label, describe_dir, is_image, list_images
from fertk.errors import FertkError

LAYOUT = "<root>/<class>/<image> (stills) or <root>/<class>/<sequence>/<frames> (sequences)"


class FolderDataset(BaseDataset):
    name = "folder"

    def __init__(self, root, *, subject_pattern: str = r"^(?P<subject>[^_\-\s.]+)",
                 canonical: bool = True, **options: Any) -> None:
        super().__init__(root, **options)
        try:
            self.pattern = re.compile(subject_pattern)
        except re.error as exc:
            raise FertkError(f"folder: subject_pattern '{subject_pattern}' is not a valid regex: {exc}") from exc
        self.canonical = bool(canonical)
        if not self.root.is_dir():
            raise FertkError(f"folder: {self.root} is not a folder: expected {LAYOUT}")

    def options(self) -> dict[str, Any]:
        return {**super().options(), "subject_pattern": self.pattern.pattern, "canonical": self.canonical}

    def _subject(self, name: str) -> str:
        m = self.pattern.search(name)
        if m is None:
            self.report.add("subject_pattern_no_match", name)
            return name
        return m.groupdict().get("subject") or (m.group(1) if m.groups() else m.group(0))

    def _scan(self):
        class_dirs = sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        loose = [p.name for p in self.root.iterdir() if p.is_file() and is_image(p.name)]
        if not class_dirs:
            raise FertkError(f"folder: {self.root} has no class folders: expected {LAYOUT}; "
                             f"found {describe_dir(self.root)}")
        if loose:
            self.report.add("images_outside_class_folders", loose[0], len(loose))
        items = []
        for cdir in class_dirs:
            label = (canonical_label(cdir.name) if self.canonical else None) or cdir.name
            before = len(items)
            for still in list_images(cdir):
                items.append((label, [str(still)], self._subject(still.stem), f"{cdir.name}/{still.stem}",
                              {"still": True}))
            for sdir in sorted(p for p in cdir.iterdir() if p.is_dir()):
                frames = [str(p) for p in list_images(sdir)]
                if not frames:
                    self.report.add("empty_sequence", f"{cdir.name}/{sdir.name}")
                    continue
                items.append((label, frames, self._subject(sdir.name), f"{cdir.name}/{sdir.name}", {}))
            if len(items) == before:
                self.report.add("empty_class", cdir.name)
        if not items:
            raise FertkError(f"folder: no images in the class folders of {self.root}: expected {LAYOUT}")
        return items


def build_folder(root, **options: Any) -> FolderDataset:
    return FolderDataset(root, **options)
