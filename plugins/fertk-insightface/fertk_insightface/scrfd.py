"""SCRFD face detection and 2d106 landmarks with onnxruntime, without the insightface package.

Pre- and post-processing follow insightface's public ``model_zoo/scrfd.py`` and
``model_zoo/landmark.py`` (MIT licensed code): the image is letterboxed (resized to fit
``det_size`` keeping its aspect ratio, padded right/bottom with black), normalised to
``(x - 127.5) / 128`` RGB; for each feature stride ``s`` the network gives per-anchor scores,
box distances and keypoint offsets in units of ``s``; anchor centres sit at ``(col·s, row·s)``
(``num_anchors`` copies per position); boxes decode as ``(cx - l, cy - t, cx + r, cy + b)`` and
keypoints as ``(cx + dx, cy + dy)``; then non-maximum suppression (IoU 0.4 by default).

Output layouts recognised (by number of outputs, as insightface does): 6 (3 strides, 2
anchors, no keypoints), 9 (3 strides, 2 anchors, keypoints), 10 and 15 (5 strides, 1 anchor).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from fertk.detectors.base import BaseDetector
from fertk.errors import FertkError, MissingDependencyError
from fertk.types import Face

#: Environment variable naming the model-pack folder (overrides the default location).
ENV_VAR = "FERTK_INSIGHTFACE_MODEL_DIR"
DEFAULT_ROOT = Path("~/.insightface/models")
DEFAULT_PACK = "buffalo_l"

HOW_TO_GET = (
    "download an insightface model pack (e.g. buffalo_l.zip from "
    "https://github.com/deepinsight/insightface/releases, non-commercial research licence) and "
    "unzip it there, or point -D model_dir=DIR or $" + ENV_VAR + " at a folder holding "
    "det_*.onnx / scrfd*.onnx (and optionally 2d106det.onnx)"
)


def distance2bbox(points: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Anchor centres (N×2) and distances (N×4: left, top, right, bottom) → boxes (N×4)."""
    return np.stack(
        [
            points[:, 0] - distance[:, 0],
            points[:, 1] - distance[:, 1],
            points[:, 0] + distance[:, 2],
            points[:, 1] + distance[:, 3],
        ],
        axis=-1,
    )


def distance2kps(points: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Anchor centres (N×2) and offsets (N×2K) → keypoints (N×K×2)."""
    n = distance.shape[1] // 2
    out = distance.reshape(-1, n, 2) + points[:, None, :]
    return out


def anchor_centers(height: int, width: int, stride: int, num_anchors: int) -> np.ndarray:
    """Anchor centres of one feature map, row-major, ``num_anchors`` copies per position."""
    ys, xs = np.mgrid[:height, :width]
    centers = (np.stack([xs, ys], axis=-1).astype(np.float32) * stride).reshape(-1, 2)
    if num_anchors > 1:
        centers = np.repeat(centers, num_anchors, axis=0)
    return centers


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Greedy non-maximum suppression; indices kept, by decreasing score."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = scores.argsort()[::-1]
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= threshold]
    return keep


_LAYOUTS = {  # number of outputs → (strides, anchors per position, keypoints)
    6: ((8, 16, 32), 2, False),
    9: ((8, 16, 32), 2, True),
    10: ((8, 16, 32, 64, 128), 1, False),
    15: ((8, 16, 32, 64, 128), 1, True),
}


def _session(path: Path):
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise MissingDependencyError("detector 'insightface'", "onnxruntime") from exc
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = int(os.environ.get("FERTK_ORT_THREADS", "0") or 0)
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise FertkError(f"insightface: cannot load ONNX model {path}: {str(exc).splitlines()[0]}") from exc


class SCRFD:
    """One SCRFD ONNX model: ``detect(bgr) -> (boxes N×4, scores N, keypoints N×5×2 | None)``."""

    def __init__(self, path: Path, det_size: tuple[int, int] = (640, 640)) -> None:
        self.path = Path(path)
        self.session = _session(self.path)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.output_names = [o.name for o in self.session.get_outputs()]
        n = len(self.output_names)
        if n not in _LAYOUTS:
            raise FertkError(
                f"insightface: {self.path} has {n} outputs; an SCRFD model has 6, 9, 10 or 15"
            )
        self.strides, self.num_anchors, self.use_kps = _LAYOUTS[n]
        self.fmc = len(self.strides)
        self.batched = len(self.session.get_outputs()[0].shape) == 3
        shape = inp.shape
        fixed = isinstance(shape[2], int) and isinstance(shape[3], int)
        self.input_size = (int(shape[3]), int(shape[2])) if fixed else tuple(det_size)  # (W, H)
        self._centers: dict[tuple[int, int, int], np.ndarray] = {}

    def _letterbox(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        import cv2

        w_in, h_in = self.input_size
        h, w = image.shape[:2]
        if h / w > h_in / w_in:
            new_h, new_w = h_in, max(1, int(h_in / (h / w)))
        else:
            new_w, new_h = w_in, max(1, int(w_in * (h / w)))
        scale = new_h / h
        canvas = np.zeros((h_in, w_in, 3), np.uint8)
        canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h))
        return canvas, scale

    def forward(self, canvas: np.ndarray, threshold: float):
        """Raw decoding on the letterboxed canvas: (scores, boxes, keypoints) above threshold."""
        blob = ((canvas[:, :, ::-1].astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None]
        outs = self.session.run(self.output_names, {self.input_name: np.ascontiguousarray(blob)})
        h_in, w_in = blob.shape[2], blob.shape[3]
        scores_all, boxes_all, kps_all = [], [], []
        for idx, stride in enumerate(self.strides):
            pick = (lambda o: o[0]) if self.batched else (lambda o: o)
            scores = pick(outs[idx]).reshape(-1)
            dist = pick(outs[idx + self.fmc]).reshape(-1, 4) * stride
            key = (h_in // stride, w_in // stride, stride)
            centers = self._centers.get(key)
            if centers is None:
                centers = anchor_centers(key[0], key[1], stride, self.num_anchors)
                self._centers[key] = centers
            if len(centers) != len(scores):
                raise FertkError(
                    f"insightface: {self.path}: stride {stride} output has {len(scores)} anchors, "
                    f"expected {len(centers)} for a {w_in}x{h_in} input"
                )
            pos = np.where(scores >= threshold)[0]
            scores_all.append(scores[pos])
            boxes_all.append(distance2bbox(centers[pos], dist[pos]))
            if self.use_kps:
                kd = pick(outs[idx + 2 * self.fmc]).reshape(len(scores), -1) * stride
                kps_all.append(distance2kps(centers[pos], kd[pos]))
        scores = np.concatenate(scores_all) if scores_all else np.zeros(0, np.float32)
        boxes = np.concatenate(boxes_all) if boxes_all else np.zeros((0, 4), np.float32)
        kps = np.concatenate(kps_all) if self.use_kps and kps_all else None
        return scores, boxes, kps

    def detect(self, image: np.ndarray, threshold: float = 0.5, nms_threshold: float = 0.4):
        canvas, scale = self._letterbox(image)
        scores, boxes, kps = self.forward(canvas, threshold)
        if len(scores) == 0:
            return np.zeros((0, 4)), np.zeros(0), (np.zeros((0, 5, 2)) if self.use_kps else None)
        boxes = boxes / scale
        kps = kps / scale if kps is not None else None
        keep = nms(boxes, scores, nms_threshold)
        return boxes[keep], scores[keep], (kps[keep] if kps is not None else None)


class Landmark106:
    """insightface's 2d106det: 106 points from a 192×192 crop around the face box."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.session = _session(self.path)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.size = int(inp.shape[2]) if isinstance(inp.shape[2], int) else 192
        self.mean, self.std = self._normalisation()

    def _normalisation(self) -> tuple[float, float]:
        """As insightface: models that normalise inside (Sub+Mul first nodes) take raw pixels."""
        try:
            import onnx

            graph = onnx.load(str(self.path), load_external_data=False).graph
            names = [n.name for n in graph.node[:8]]
        except Exception:
            names = []
        has_sub = any(n.startswith(("Sub", "_minus")) for n in names)
        has_mul = any(n.startswith(("Mul", "_mul")) for n in names)
        return (0.0, 1.0) if (has_sub and has_mul) else (127.5, 128.0)

    def predict(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        import cv2

        x1, y1, x2, y2 = (float(v) for v in box)
        w, h = x2 - x1, y2 - y1
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        s = self.size / (max(w, h) * 1.5)
        m = np.array([[s, 0, self.size / 2 - cx * s], [0, s, self.size / 2 - cy * s]], np.float64)
        crop = cv2.warpAffine(image, m, (self.size, self.size), borderValue=0.0)
        blob = ((crop[:, :, ::-1].astype(np.float32) - self.mean) / self.std).transpose(2, 0, 1)[None]
        pred = self.session.run(None, {self.input_name: np.ascontiguousarray(blob)})[0][0]
        pred = pred.reshape(-1, 3 if pred.size >= 3000 else 2)[-106:, :2].astype(np.float64)
        pred = (pred + 1.0) * (self.size // 2)
        return (pred - m[:, 2]) / s  # inverse of the (rotation-free) similarity


def resolve_model_dir(model_dir: str | os.PathLike | None, pack: str) -> Path:
    """The model-pack folder: option, else $FERTK_INSIGHTFACE_MODEL_DIR, else ~/.insightface."""
    if model_dir:
        return Path(model_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return (DEFAULT_ROOT / pack).expanduser()


def _find(folder: Path, patterns: tuple[str, ...], exclude: str | None = None) -> Path | None:
    for pattern in patterns:
        hits = sorted(p for p in folder.glob(pattern) if not (exclude and exclude in p.name))
        if hits:
            return hits[0]
    return None


class InsightFaceDetector(BaseDetector):
    """SCRFD boxes + 5 keypoints (scheme ``five_point``); ``landmarks=106`` adds 2d106det.

    Options: ``model_dir`` (pack folder), ``pack`` (name under ``~/.insightface/models``,
    default ``buffalo_l``), ``det_size`` (letterbox size for models with a dynamic input,
    default 640), ``threshold`` (score, 0.5), ``nms`` (IoU, 0.4), ``landmarks`` 5 or 106,
    plus ``largest``, ``min_size``, ``max_side``.
    """

    name = "insightface"

    def __init__(
        self,
        *,
        model_dir: str | None = None,
        pack: str = DEFAULT_PACK,
        det_size: int | tuple[int, int] | list[int] = 640,
        threshold: float = 0.5,
        nms: float = 0.4,
        landmarks: int = 5,
        **base: Any,
    ) -> None:
        super().__init__(**base)
        if int(landmarks) not in (5, 106):
            raise FertkError(f"insightface: landmarks must be 5 or 106, got {landmarks}")
        folder = resolve_model_dir(model_dir, pack)
        if not folder.is_dir():
            raise FertkError(f"insightface: model pack folder {folder} not found; {HOW_TO_GET}")
        det_path = _find(folder, ("det_*.onnx", "scrfd*.onnx", "*det*.onnx"), exclude="2d106")
        if det_path is None:
            raise FertkError(f"insightface: no SCRFD model (det_*.onnx or scrfd*.onnx) in {folder}; {HOW_TO_GET}")
        size = (int(det_size), int(det_size)) if isinstance(det_size, (int, float)) else tuple(int(v) for v in det_size)
        self.model_dir = folder
        self.det_size = size
        self.threshold = float(threshold)
        self.nms = float(nms)
        self.n_landmarks = int(landmarks)
        self.detector = SCRFD(det_path, size)
        self.landmarker = None
        if self.n_landmarks == 106:
            lm_path = _find(folder, ("2d106det*.onnx", "*106*.onnx"))
            if lm_path is None:
                raise FertkError(f"insightface: landmarks=106 needs 2d106det.onnx in {folder}; {HOW_TO_GET}")
            self.landmarker = Landmark106(lm_path)
        self.scheme = "insightface106" if self.n_landmarks == 106 else ("five_point" if self.detector.use_kps else None)

    def options(self) -> dict[str, Any]:
        return {
            "model_dir": str(self.model_dir),
            "det_size": list(self.det_size),
            "threshold": self.threshold,
            "nms": self.nms,
            "landmarks": self.n_landmarks,
            **super().options(),
        }

    def _detect(self, image: np.ndarray) -> list[Face]:
        boxes, scores, kps = self.detector.detect(image, self.threshold, self.nms)
        faces = []
        for i in range(len(scores)):
            box = tuple(float(v) for v in boxes[i])
            if self.landmarker is not None:
                lm, scheme = self.landmarker.predict(image, boxes[i]), "insightface106"
            elif kps is not None:
                lm, scheme = kps[i].astype(np.float64), "five_point"
            else:
                lm, scheme = None, None
            faces.append(Face(box=box, score=float(scores[i]), landmarks=lm, scheme=scheme))  # type: ignore[arg-type]
        return faces


def build_insightface(**options: Any) -> InsightFaceDetector:
    """Factory registered as detector ``insightface``."""
    return InsightFaceDetector(**options)
