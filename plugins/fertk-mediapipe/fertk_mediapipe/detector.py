"""mediapipe face detection (boxes, 6 keypoints) and face mesh (468/478 landmarks)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from fertk.detectors.base import BaseDetector
from fertk.errors import FertkError, MissingDependencyError
from fertk.types import Face


def _import_mediapipe():
    os.environ.setdefault("GLOG_minloglevel", "2")  # silence the C++ INFO/WARNING lines
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import mediapipe as mp
    except ImportError as exc:
        raise MissingDependencyError("detector 'mediapipe'", "mediapipe==0.10.21") from exc
    if not hasattr(mp, "solutions"):
        raise FertkError(f"detector 'mediapipe' needs mediapipe's legacy solutions API (0.10.21); found {mp.__version__}")
    return mp


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class MediapipeDetector(BaseDetector):
    """mediapipe BlazeFace detection, with face mesh landmarks by default.

    Options: ``mesh`` (True: 478-point face mesh, scheme ``mediapipe478``, or 468 points with
    ``refine=False``; False: the detector's 6 keypoints, scheme ``mediapipe6``);
    ``model_selection`` (0: short range, faces within ~2 m, default; 1: full range);
    ``min_confidence`` (0.5); ``max_faces`` (mesh only, 5); ``tracking`` (False: every image
    is independent; True: the mesh tracks faces across consecutive video frames); plus
    ``largest``, ``min_size``, ``max_side``.

    With the mesh, each mesh is matched to the detection box overlapping its landmarks most
    (box and score from the detector); a mesh without a matching detection gets the
    landmarks' bounding box and score ``min_confidence``; a detection without a mesh keeps
    its box with no landmarks.
    """

    name = "mediapipe"

    def __init__(
        self,
        *,
        mesh: bool = True,
        refine: bool = True,
        model_selection: int = 0,
        min_confidence: float = 0.5,
        max_faces: int = 5,
        tracking: bool = False,
        **base: Any,
    ) -> None:
        super().__init__(**base)
        if model_selection not in (0, 1):
            raise FertkError(f"mediapipe: model_selection must be 0 or 1, got {model_selection}")
        mp = _import_mediapipe()
        self.mesh = bool(mesh)
        self.refine = bool(refine)
        self.model_selection = int(model_selection)
        self.min_confidence = float(min_confidence)
        self.max_faces = int(max_faces)
        self.tracking = bool(tracking)
        self._fd = mp.solutions.face_detection.FaceDetection(
            model_selection=self.model_selection, min_detection_confidence=self.min_confidence
        )
        self._fm = None
        if self.mesh:
            self._fm = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=not self.tracking,
                max_num_faces=self.max_faces,
                refine_landmarks=self.refine,
                min_detection_confidence=self.min_confidence,
            )
            self.scheme = "mediapipe478" if self.refine else "mediapipe468"
        else:
            self.scheme = "mediapipe6"

    def options(self) -> dict[str, Any]:
        return {
            "mesh": self.mesh,
            "refine": self.refine,
            "model_selection": self.model_selection,
            "min_confidence": self.min_confidence,
            "max_faces": self.max_faces,
            "tracking": self.tracking,
            **super().options(),
        }

    def close(self) -> None:
        for attr in ("_fd", "_fm"):
            obj = getattr(self, attr, None)
            if obj is not None:
                obj.close()
                setattr(self, attr, None)

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass

    def _detect(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        dets = []
        for d in self._fd.process(rgb).detections or []:
            rb = d.location_data.relative_bounding_box
            box = np.array([rb.xmin * w, rb.ymin * h, (rb.xmin + rb.width) * w, (rb.ymin + rb.height) * h])
            kps = np.array([(k.x * w, k.y * h) for k in d.location_data.relative_keypoints], np.float64)
            dets.append((box, float(d.score[0]) if d.score else 0.0, kps))
        if self._fm is None:
            return [Face(box=tuple(float(v) for v in b), score=s, landmarks=k, scheme="mediapipe6") for b, s, k in dets]  # type: ignore[arg-type]
        meshes = []
        for lms in self._fm.process(rgb).multi_face_landmarks or []:
            meshes.append(np.array([(p.x * w, p.y * h) for p in lms.landmark], np.float64))
        faces, used = [], set()
        for pts in meshes:
            mbox = np.array([*pts.min(axis=0), *pts.max(axis=0)])
            best, best_iou = None, 0.3
            for i, (box, _, _) in enumerate(dets):
                iou = _iou(mbox, box)
                if i not in used and iou > best_iou:
                    best, best_iou = i, iou
            if best is None:
                box, score = mbox, self.min_confidence
            else:
                used.add(best)
                box, score = dets[best][0], dets[best][1]
            faces.append(Face(box=tuple(float(v) for v in box), score=score, landmarks=pts, scheme=self.scheme))  # type: ignore[arg-type]
        for i, (box, score, _) in enumerate(dets):
            if i not in used:
                faces.append(Face(box=tuple(float(v) for v in box), score=score))  # type: ignore[arg-type]
        return faces


def build_mediapipe(**options: Any) -> MediapipeDetector:
    """Factory registered as detector ``mediapipe``."""
    return MediapipeDetector(**options)
