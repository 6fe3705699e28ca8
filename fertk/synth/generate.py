"""Synthetic expression sequences written in the CK+ official layout and the folder layout.

Every identity gets one onset→apex sequence per class (plus, optionally, unlabelled
sequences without an ``Emotion`` file, as in CK+). Identities differ in face shape, feature
placement, skin/hair albedo, background and expressiveness; sequences differ in apex
intensity, light direction, gain and head pose; frames add pose drift, parameter jitter and
sensor noise. With ``motion=True`` a sequence morphs from one pose to another and its class is
the ordered pair, so only the order of the frames tells classes apart (a GRU can, averaging
cannot).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fertk.errors import FertkError, one_line
from fertk.synth.render import CLASS_APEX, MOTION_POSES, Identity, param_vector, render_face

#: CK+ emotion codes of the seven classes (0 is neutral).
CKPLUS_CODES = {"anger": 1, "contempt": 2, "disgust": 3, "fear": 4, "happy": 5, "sadness": 6,
                "surprise": 7}


def data_name(dataset: str | None, root: str | Path | None) -> str | None:
    """What data ``dataset`` read at ``root`` really is: ``synth`` when ``root`` (or the folder
    above it, for the ``folder`` layout) was written by ``fertk synth`` (its ``synth.json``
    names the generator), else ``dataset``. Checkpoints record it as ``train.dataset``, so
    weights trained on synthetic faces never pass for a model of the data set whose layout they
    borrowed."""
    if not dataset or not root:
        return dataset
    here = Path(root).expanduser()
    for folder in (here, here.parent):
        try:
            meta = json.loads((folder / "synth.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("generator") == "fertk synth":
            return "synth"
    return dataset


def motion_classes() -> list[tuple[str, str]]:
    """The ordered pose pairs of the motion variant (6 classes)."""
    poses = list(MOTION_POSES)
    return [(a, b) for a in poses for b in poses if a != b]


@dataclass
class SynthConfig:
    """Options of :func:`synthesize` (also the ``fertk synth`` options)."""

    identities: int = 20
    frames: int = 10
    max_frames: int | None = None  # lengths drawn in [frames, max_frames]
    size: tuple[int, int] = (256, 256)  # (height, width)
    classes: tuple[str, ...] = tuple(CLASS_APEX)
    unlabelled: float = 0.1  # fraction of extra sequences without an Emotion file
    motion: bool = False
    layouts: tuple[str, ...] = ("ckplus", "folder")
    seed: int = 0
    noise: float = 0.025
    lighting: float = 1.0  # 0 = frontal light only, 1 = full variation
    first_subject: int = 10

    def class_names(self) -> list[str]:
        if self.motion:
            return [f"{a}_to_{b}" for a, b in motion_classes()]
        return list(self.classes)


@dataclass
class SequenceInfo:
    subject: str
    sequence: str
    label: str | None
    code: int | None
    frames: int
    intensity: float
    light: list[float]
    files: list[str] = field(default_factory=list)


def _smooth(t: np.ndarray) -> np.ndarray:
    return t * t * (3 - 2 * t)


def _sequence_params(cfg: SynthConfig, label_idx: int, n: int, intensity: float,
                     rest: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    t = _smooth(np.linspace(0.0, 1.0, n))
    if cfg.motion:
        a, b = motion_classes()[label_idx]
        pa, pb = param_vector(MOTION_POSES[a]), param_vector(MOTION_POSES[b])
        seq = (1 - t)[:, None] * pa + t[:, None] * pb
        seq = seq * intensity
    else:
        apex = param_vector(CLASS_APEX[cfg.classes[label_idx]])
        seq = t[:, None] * apex[None] * intensity
    seq = seq + rest[None] + 0.04 * rng.standard_normal(seq.shape)
    return seq


def synthesize(
    out: str | Path,
    cfg: SynthConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Render the data set into ``out`` and return its manifest (also saved as ``synth.json``)."""
    import cv2

    cfg = cfg or SynthConfig()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FertkError(f"{out}: is a file, but synth writes a folder there (OUT/cohn-kanade-images/, "
                         "OUT/folder/ ...); give a new or empty folder")
    # a folder that holds anything: its frames and labels would mix with ours (on a real CK+
    # root, ours would overwrite the data)
    if out.is_dir() and any(out.iterdir()):
        raise FertkError(f"{out}: the folder is not empty; synth writes CK+ names there "
                         "(S010_001_..., Emotion/...) and would overwrite or mix with what it "
                         "holds: give a new or empty folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FertkError(f"{out}: cannot create the output folder ({one_line(exc)})") from None
    names = cfg.class_names()
    rng = np.random.default_rng(cfg.seed)
    h, w = cfg.size
    max_frames = max(cfg.frames, cfg.max_frames or cfg.frames)
    plan: list[tuple[int, Identity, int | None, np.random.Generator]] = []
    idents = [Identity.random(rng) for _ in range(cfg.identities)]
    for i, ident in enumerate(idents):
        labels: list[int | None] = list(rng.permutation(len(names)))
        extra = int(rng.random() < cfg.unlabelled * len(names)) if cfg.unlabelled > 0 else 0
        labels += [None] * extra
        for lab in labels:
            plan.append((i, ident, None if lab is None else int(lab),
                         np.random.default_rng(rng.integers(2**63))))
    total = sum(1 for _ in plan)
    seq_counter: dict[int, int] = {}
    infos: list[SequenceInfo] = []
    for done, (i, ident, lab, srng) in enumerate(plan):
        subject = f"S{cfg.first_subject + i:03d}"
        seq_counter[i] = seq_counter.get(i, 0) + 1
        seq = f"{seq_counter[i]:03d}"
        n = int(srng.integers(cfg.frames, max_frames + 1))
        render_label = lab if lab is not None else int(srng.integers(len(names)))
        intensity = float(srng.uniform(0.7, 1.0))
        rest = 0.07 * srng.standard_normal(len(param_vector({})))
        params = _sequence_params(cfg, render_label, n, intensity, rest, srng)
        az = srng.uniform(-0.5, 0.5) * cfg.lighting
        el = srng.uniform(-0.35, 0.25) * cfg.lighting
        light = [math.sin(az), el, math.cos(az)]
        gain = float(srng.uniform(0.75, 1.2)) if cfg.lighting else 1.0
        face_px = float(srng.uniform(0.23, 0.28) * min(h, w))
        pose0 = np.array([srng.uniform(-6, 6), srng.uniform(0.92, 1.08),
                          srng.uniform(-0.04, 0.04) * w, srng.uniform(-0.04, 0.04) * h])
        drift = np.array([srng.uniform(-2, 2), srng.uniform(-0.03, 0.03),
                          srng.uniform(-3, 3), srng.uniform(-3, 3)])
        label_name = names[lab] if lab is not None else None
        code = None
        if lab is not None:
            code = (lab + 1) if cfg.motion else CKPLUS_CODES[label_name]
        info = SequenceInfo(subject, seq, label_name, code, n, round(intensity, 3),
                            [round(v, 3) for v in light])
        for f in range(n):
            frac = f / max(n - 1, 1)
            pose = pose0 + drift * frac + [0.3 * srng.standard_normal(), 0, 0.5 * srng.standard_normal(),
                                          0.5 * srng.standard_normal()]
            img, lm = render_face(ident, params[f], light=tuple(light), pose=tuple(pose),
                                  size=(h, w), face_px=face_px, rng=srng, noise=cfg.noise, gain=gain)
            stem = f"{subject}_{seq}_{f + 1:08d}"
            if "ckplus" in cfg.layouts:
                d = out / "cohn-kanade-images" / subject / seq
                d.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(d / f"{stem}.png"), img)
                ld = out / "Landmarks" / subject / seq
                ld.mkdir(parents=True, exist_ok=True)
                (ld / f"{stem}_landmarks.txt").write_text(
                    "".join(f"   {x:.7e}   {y:.7e}\n" for x, y in lm), encoding="ascii"
                )
                info.files.append(f"cohn-kanade-images/{subject}/{seq}/{stem}.png")
            if "folder" in cfg.layouts and label_name is not None:
                d = out / "folder" / label_name / f"{subject}_{seq}"
                d.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(d / f"frame_{f + 1:04d}.png"), img)
        if "ckplus" in cfg.layouts and code is not None:
            ed = out / "Emotion" / subject / seq
            ed.mkdir(parents=True, exist_ok=True)
            (ed / f"{subject}_{seq}_{n:08d}_emotion.txt").write_text(
                f"   {float(code):.7e}\n", encoding="ascii"
            )
        infos.append(info)
        if progress is not None:
            progress(done + 1, total)
    manifest = {
        "generator": "fertk synth",
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "classes": names,
        "ckplus_codes": ({n: i + 1 for i, n in enumerate(names)} if cfg.motion
                         else {n: CKPLUS_CODES[n] for n in names}),
        "sequences": [asdict(s) for s in infos],
    }
    (out / "synth.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest
