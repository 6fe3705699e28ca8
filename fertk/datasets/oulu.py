"""Oulu-CASIA NIR&VIS facial expression data set: ``OriginalImg/{VL,NI}/{Strong,Weak,Dark}/P###/<Class>/*.jpeg``.

80 subjects (P001-P080) × 6 classes, each sequence onset → apex. ``spectrum`` picks visible
(``VL``, the paper's) or near-infrared (``NI``) light; ``light`` picks ``Strong`` (the
paper's), ``Weak``, ``Dark`` or ``all`` (the subject stays ``P###`` across lights, so
subject-independent folds stay subject-independent).
"""

from __future__ import annotations

from typing import Any

from fertk.datasets.base import BaseDataset, canonical_label, describe_dir, list_images
from fertk.errors import FertkError

LAYOUT = "<root>/OriginalImg/{VL,NI}/{Strong,Weak,Dark}/P###/<Class>/*.jpeg"
LIGHTS = ("Strong", "Weak", "Dark")


class OuluCasia(BaseDataset):
    name = "oulu_casia"

    def __init__(self, root, *, spectrum: str = "VL", light: str = "Strong", **options: Any) -> None:
        super().__init__(root, **options)
        spectrum = spectrum.upper()
        if spectrum not in ("VL", "NI"):
            raise FertkError(f"oulu_casia: spectrum must be VL or NI, got '{spectrum}'")
        lights = LIGHTS if light.lower() == "all" else tuple(x for x in LIGHTS if x.lower() == light.lower())
        if not lights:
            raise FertkError(f"oulu_casia: light must be Strong, Weak, Dark or all, got '{light}'")
        self.spectrum, self.lights = spectrum, lights
        base = self.root
        if base.name != "OriginalImg" and (base / "OriginalImg").is_dir():
            base = base / "OriginalImg"
        if not (base / spectrum).is_dir():
            raise FertkError(f"oulu_casia: {self.root} is not in the Oulu-CASIA layout: expected "
                             f"{LAYOUT}; found {describe_dir(self.root)}")
        self.base = base

    def options(self) -> dict[str, Any]:
        return {**super().options(), "spectrum": self.spectrum, "lights": list(self.lights)}

    def _scan(self):
        items = []
        for light in self.lights:
            folder = self.base / self.spectrum / light
            if not folder.is_dir():
                self.report.add("missing_light_folder", folder)
                continue
            for subj in sorted(p for p in folder.iterdir() if p.is_dir()):
                for cls_dir in sorted(p for p in subj.iterdir() if p.is_dir()):
                    label = canonical_label(cls_dir.name)
                    seq = f"{self.spectrum}/{light}/{subj.name}/{cls_dir.name}"
                    if label is None:
                        self.report.add("unknown_class_folder", seq)
                        continue
                    frames = [str(p) for p in list_images(cls_dir)]
                    if not frames:
                        self.report.add("empty_sequence", seq)
                        continue
                    items.append((label, frames, subj.name, seq, {"light": light}))
        if not items:
            raise FertkError(f"oulu_casia: no sequences under {self.base / self.spectrum} for light "
                             f"{'/'.join(self.lights)}: expected {LAYOUT}")
        return items


def build_oulu_casia(root, **options: Any) -> OuluCasia:
    return OuluCasia(root, **options)
