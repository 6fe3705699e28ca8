"""The run pipeline: frames → faces (tracked) → crops → expression probabilities, per track.

:class:`Pipeline` is the Python API behind ``fertk run``, and :func:`analyze` its shortcut::

    import fertk
    pipe = fertk.Pipeline()                       # bundled default weights, dlib, its own crop
    for rec in pipe.run("clip.mp4"):              # one FrameResult per processed frame
        for face in rec.faces:
            print(rec.frame, face.track, face.label, face.confidence)
    df = fertk.pipeline.to_dataframe(pipe.run("clip.mp4"))   # needs pandas
    res = fertk.analyze("photo.jpg")              # the default pipeline of the plugin context

:meth:`Pipeline.run_item` describes one job (:class:`fertk.io.job.Job`: stills or a clip, its
frame rate, whether results carry frame probabilities) and yields its results; the files
are written from that description (:mod:`fertk.jobs`, :class:`fertk.io.outputs.RunOutputs`).

Stages are pipelined: a background thread decodes the video into a bounded queue
(:mod:`fertk.io.video`); the calling thread detects, tracks and crops; a second thread
classifies crops in batches across faces and frames and runs the temporal head of each
track over its latest ``window`` (9) sampled frames. Memory is constant in the video length.

Video faces follow a detection schedule (:func:`fertk.tracking.follow_faces`: a scan about
once a second, fast re-detection every ``detect_every`` frames, optical flow in between);
stills always get the full-quality detector. Each track's probabilities are smoothed over a
window centred on each frame, and its label changes with hysteresis
(:class:`fertk.temporal.smoothing.LabelSmoother`; results come out half a window late).
A checkpoint's temporal head runs when ``temporal`` names it; stills always get the frame
model (a head has nothing to integrate on one frame).

Faces are found and cropped by :class:`fertk.faces.FaceStage` (the model keeps its crop,
the user's crop options are layered over it); the model is resolved and run by
:mod:`fertk.inference` (never untrained; options that contradict a checkpoint are refused).
The parts come from the registries of one plugin context (``context``, default
:func:`fertk.plugins.default_context`).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from fertk.errors import FertkError
from fertk.inference import ModelSpec, build_classifier, load_onnx_model, resolve_model
from fertk.inference import weights_for_backbone as weights_for_backbone
from fertk.io.images import to_bgr
from fertk.io.job import Job
from fertk.io.results import FaceResult, FrameResult
from fertk.io.results import to_dataframe as to_dataframe  # kept here for existing callers
from fertk.io.video import (
    DecodeStats,
    Frame,
    MediaItem,
    check_fps,
    expand_sources,
    frame_rate,
    iter_frames,
)
from fertk.plugins import Context, default_context

#: Frames per track the streaming temporal head looks at (the paper's 9 sampled frames).
DEFAULT_WINDOW = 9
#: Processed video frames between two detections (landmark flow in between).
DEFAULT_DETECT_EVERY = 5
#: Seconds of video between two full-quality detection scans (the fast variant in between).
SCAN_SECONDS = 1.0


# -- the pipeline ---------------------------------------------------------------------------------
@dataclass
class _Pending:
    frame: Frame
    faces: list[Any]
    crops: list[np.ndarray]
    closed: list[int]
    detected: bool
    duration: float | None


#: ``name → (type, lowest value, may be None)`` of :class:`Pipeline`'s numbers.
_NUMBERS = {"detect_every": (int, 1, False), "stride": (int, 1, False), "window": (int, 1, False),
            "batch_size": (int, 1, False), "scan_every": (int, 1, True),
            "max_missed": (int, 0, True), "threads": (int, 1, True), "smoothing": (float, 0, True)}


def _check_numbers(**values: Any) -> None:
    """One :class:`FertkError` for the first of :class:`Pipeline`'s numbers that is not a
    (finite) number of its kind in its range (``threads=-1``, ``smoothing=nan``)."""
    from fertk.option_types import Range, Refused, checked

    for name, value in values.items():
        kind, low, optional = _NUMBERS[name]
        if value is None and optional:
            continue
        try:
            checked(value, kind, Range(low, None))
        except Refused as exc:
            raise FertkError(f"Pipeline({name}=): must be {exc.expected}, got {value!r}") from None


def default_threads() -> int:
    """Classifier threads when none are given: half the CPUs (detection runs beside it)."""
    return max(1, (os.cpu_count() or 2) // 2)


class Pipeline:
    """Detector + crop + backbone (+ temporal head) over images, folders, videos and webcams.

    ``detector``/``crop``: registered names (or objects with ``detect``/``crop``);
    ``backbone``/``temporal``: names checked against ``weights`` (a checkpoint path, a
    registered weight name, or an exported ``.onnx`` with ``engine="onnxruntime"``), or
    caller-built modules; ``engine``: ``auto`` (onnxruntime when installed and the device is
    the CPU, else torch), ``torch``, ``onnxruntime`` or another registered engine (a variant
    of :mod:`fertk.inference.variants` or a plugin's);
    ``device``: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``;
    ``detect_every``: detect every N processed video frames and follow faces with optical
    flow in between; ``scan_every``: processed frames between full-quality scans (default
    about one second of video; ``1`` with ``detect_every=1`` detects every frame at full
    quality); ``smoothing``: width in seconds of the window, centred on each frame, over which
    each track's probabilities are averaged (default
    :data:`~fertk.temporal.smoothing.DEFAULT_SMOOTHING` without a temporal head, else 0; 0
    turns it off); ``hysteresis``: how many times as probable (smoothed) as a track's label
    another expression must be to replace it (default
    :data:`~fertk.temporal.smoothing.DEFAULT_HYSTERESIS` with smoothing, else 1: off);
    ``temporal``: a temporal head to run per track (a checkpoint's own head runs only when
    named); ``stride``: process every N-th frame;
    ``window``: frames per track fed to the temporal head; ``batch_size``: crops per
    classification batch; ``max_missed``: processed frames a track may miss before it is
    closed; ``image_sequence``: images of one folder/glob are frames of one clip;
    ``threads``: classifier threads (default :func:`default_threads`), set only while it
    classifies; ``context``: the plugin context whose registries build every part (default:
    :func:`fertk.plugins.default_context`).
    """

    def __init__(
        self,
        detector: Any = None,
        crop: Any = None,
        backbone: Any = None,
        temporal: Any = None,
        weights: Any = None,
        *,
        engine: str = "auto",
        device: str = "auto",
        detect_every: int = DEFAULT_DETECT_EVERY,
        scan_every: int | None = None,
        smoothing: float | None = None,
        hysteresis: float | None = None,
        stride: int = 1,
        window: int = DEFAULT_WINDOW,
        batch_size: int = 16,
        max_missed: int | None = None,
        image_sequence: bool = False,
        fps: float | None = None,
        detector_options: dict[str, Any] | None = None,
        crop_options: dict[str, Any] | None = None,
        classes: list[str] | None = None,
        threads: int | None = None,
        landmarks: bool = True,
        embeddings: bool = False,
        require_face: bool = False,
        context: Context | None = None,
    ):
        _check_numbers(detect_every=detect_every, stride=stride, window=window,
                       batch_size=batch_size, scan_every=scan_every, max_missed=max_missed,
                       threads=threads, smoothing=smoothing)
        from fertk.option_types import parse_device

        device = parse_device(device, "Pipeline(device=)")
        if context is not None and not isinstance(context, Context):
            raise FertkError(f"Pipeline(context=): expected a fertk.plugins.Context, got a "
                             f"{type(context).__name__}")
        if hysteresis is not None and not (isinstance(hysteresis, (int, float))
                                           and 1 <= hysteresis < float("inf")):
            raise FertkError(f"Pipeline(hysteresis=): must be a ratio >= 1, got {hysteresis!r}")
        fps = check_fps(fps, "fps")
        self.config = dict(
            detector=detector, crop=crop, backbone=backbone, temporal=temporal, weights=weights,
            engine=engine, device=device, detect_every=detect_every, scan_every=scan_every,
            smoothing=smoothing, hysteresis=hysteresis, stride=stride, window=window,
            batch_size=batch_size, max_missed=max_missed, image_sequence=image_sequence, fps=fps,
            detector_options=detector_options, crop_options=crop_options, classes=classes,
            threads=threads, landmarks=landmarks, embeddings=embeddings,
            require_face=require_face,
        )
        self.detect_every = int(detect_every)
        self.scan_every = None if scan_every is None else int(scan_every)
        self.stride = int(stride)
        self.window = int(window)
        self.batch_size = int(batch_size)
        self.max_missed = max_missed
        self.image_sequence = bool(image_sequence)
        self.fps = fps
        self.embeddings = bool(embeddings)
        self.require_face = bool(require_face)
        self.context = context = context or default_context()
        crop_name = crop if isinstance(crop, str) else None
        weights_path = os.fspath(weights) if isinstance(weights, (str, os.PathLike)) else None
        if weights_path and weights_path.endswith(".onnx"):
            self.model = load_onnx_model(weights_path, backbone=backbone, temporal=temporal,
                                         crop=crop_name, context=context)
            engine = "onnxruntime"
            if device == "auto":  # an exported model runs on the CPU unless CUDA is asked for
                device = "cpu"
        else:
            self.model = resolve_model(weights=weights, backbone=backbone, temporal=temporal,
                                       crop=crop_name, classes=classes, context=context)
        self.classes = self.model.classes
        #: the temporal head the weights hold, run only when ``temporal`` names it
        self.weights_temporal = (self.model.metadata.get("temporal") or {}).get("name")
        if temporal is None and self.model.head is not None:
            self.model.head = None  # measured: the frame model, smoothed, labels more stably
        from fertk.training.distributed import resolve_device

        if str(device).startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise FertkError(f"--device {device}: CUDA is not available on this machine "
                                 "(use --device auto or cpu)")
        self.device = resolve_device(device)
        from fertk.faces import FaceStage, choose_detector, model_crop_for

        # the model keeps its crop (with detector none: the one it was trained with on whole
        # images); the user's crop options are layered over it (fertk.faces)
        name = choose_detector(detector, self.model.detector) if detector is None \
            or isinstance(detector, str) else None
        self._crop_args = dict(crop=crop, crop_options=crop_options, model_label=self.model.source,
                               context=context)
        stage = FaceStage(detector, detector_options=detector_options,
                          default_detector=self.model.detector,
                          model_crop=model_crop_for(name, self.model), **self._crop_args)
        self.face_stage = stage
        self.detector_name, self.crop_name = stage.detector_name, stage.crop_name
        self.detector, self.fast_detector, self.cropper = stage.detector, stage.fast_detector, stage.cropper
        self.classifier = build_classifier(self.model, engine, threads=threads or default_threads(),
                                           device=self.device, context=context)
        from fertk.temporal.smoothing import DEFAULT_HYSTERESIS, DEFAULT_SMOOTHING

        if smoothing is None:
            smoothing = DEFAULT_SMOOTHING if self.model.head is None else 0.0
        self.smoothing = float(smoothing)
        if hysteresis is None:
            hysteresis = DEFAULT_HYSTERESIS if self.smoothing > 0 else 1.0
        self.hysteresis = float(hysteresis)
        self.illumination = None
        if self.model.illumination:
            self.illumination = context.get_registry("augmentations").create(self.model.illumination)
        self.last_stats: DecodeStats | None = None

    @property
    def engine(self) -> Any:
        """The classifier (:attr:`classifier`; this name is kept for one release)."""
        return self.classifier

    def describe(self) -> dict[str, Any]:
        """Names of the parts in use (for logs and summaries)."""
        m = self.model
        return {
            "detector": self.detector_name,
            "crop": self.crop_name,
            "crop_options": dict(self.face_stage.crop_options or {}),
            "backbone": (m.metadata.get("backbone") or {}).get("name", type(m.backbone).__name__),
            "temporal": None if m.head is None else type(m.head).__name__,
            "weights_temporal": self.weights_temporal,
            "weights": m.source,
            "engine": self.classifier.name,
            "device": str(self.device),
            "smoothing": self.smoothing,
            "hysteresis": self.hysteresis,
            "classes": list(self.classes),
        }

    # -- running ------------------------------------------------------------------------------
    def sources(self, source: Any) -> list[MediaItem]:
        if isinstance(source, MediaItem):
            return [source]
        if isinstance(source, (list, tuple)):
            items: list[MediaItem] = []
            for s in source:
                items.extend(self.sources(s))
            return items
        return expand_sources([source], image_sequence=self.image_sequence)

    def run(self, source: Any, *, require_face: bool | None = None) -> Iterator[FrameResult]:
        """Per-frame results for a source (path, folder, glob, webcam index, list of them);
        ``require_face``: this call's choice (default: the pipeline's) between an error and an
        empty result where no face is found."""
        for item in self.sources(source):
            for rec, _ in self.run_item(item, require_face=require_face):
                yield rec

    def analyze(self, x: Any, source: str | None = None, *,
                require_face: bool | None = None) -> Any:
        """Results for ``x``: a path (image, video, folder, glob), a list of them, a numpy
        array (BGR or gray) or a PIL image. One image: a ``FrameResult``; otherwise a
        :class:`Results` list; both have ``.to_dataframe()`` (see :mod:`fertk.api`).
        ``require_face``: this call's choice (default: the pipeline's ``require_face``)
        between a :class:`NoFaceError` and an empty result where no face is found.
        """

        def still(image: np.ndarray, name: str) -> FrameResult:
            job = self._job(MediaItem("images", name, name, [name]), DecodeStats(), require_face)
            return next(iter(self._process([Frame(name, 0, None, image)], job)))[0]

        return analyze_with(self, x, still, source, require_face)

    def _job(self, item: MediaItem, stats: DecodeStats, require_face: bool | None = None) -> Job:
        """What this pipeline decides for ``item``, once: stills or a clip, its frame rate
        (:func:`fertk.io.video.frame_rate`), whether results keep frame probabilities, and
        whether a face is required (``require_face``, default the pipeline's)."""
        still = item.kind == "images" and not item.sequence
        return Job(item, still, frame_rate(item, self.fps), self.stride, list(self.classes),
                   frame_probs=not still and (self.model.head is not None or self.smoothing > 0
                                              or self.hysteresis > 1),
                   stats=stats,
                   require_face=self.require_face if require_face is None else bool(require_face))

    def run_item(self, item: MediaItem, stats: DecodeStats | None = None, *,
                 require_face: bool | None = None) -> Job:
        """The job of one source: its description and, iterating it, ``(result, frame
        image)`` pairs in frame order. A video or webcam that cannot be opened fails here."""
        stats = stats if stats is not None else DecodeStats()
        self.last_stats = stats
        job = self._job(item, stats, require_face)
        frames = iter_frames(item, stride=self.stride, stats=stats, fps=job.rate)
        job.frames = self._process(frames, job)
        return job

    def _process(self, frames: Iterable[Frame], job: Job) -> Iterator[tuple[FrameResult, np.ndarray]]:
        results = self._classified(frames, job)
        if job.still or (self.smoothing <= 0 and self.hysteresis <= 1):
            return results
        return self._smoothed(results, job)

    def _smoothed(self, results: Iterable[tuple[FrameResult, np.ndarray]], job: Job
                  ) -> Iterator[tuple[FrameResult, np.ndarray]]:
        """``results`` with each face's probabilities averaged over the track's frames within
        half a window of it and its label changed with hysteresis
        (:class:`~fertk.temporal.smoothing.LabelSmoother`): a frame is given out once the
        frames half a window after it are in (or the source ends)."""
        from dataclasses import replace

        from fertk.temporal.smoothing import LabelSmoother

        smoother = LabelSmoother(self.smoothing, self.hysteresis)
        held: deque[tuple[float, FrameResult, np.ndarray]] = deque()

        def give(t: float, rec: FrameResult, image: np.ndarray) -> tuple[FrameResult, np.ndarray]:
            faces = []
            for face in rec.faces:
                probs, k = smoother.smooth(face.track, t)
                faces.append(replace(face, probs=probs, label=self.classes[k]))
            rec.faces = faces
            smoother.drop_before(t)
            return rec, image

        try:
            for rec, image in results:
                t = float(rec.time) if rec.time is not None else rec.frame / job.rate
                for face in rec.faces:
                    smoother.add(face.track, t, face.probs)
                held.append((t, rec, image))
                while held and held[0][0] + smoother.delay <= t:
                    yield give(*held.popleft())
        except GeneratorExit:  # the caller stopped reading (e.g. --max-frames)
            raise
        except BaseException:  # a failure or Ctrl-C upstream: give out the frames before it
            while held:
                yield give(*held.popleft())
            raise
        while held:
            yield give(*held.popleft())

    def _classified(self, frames: Iterable[Frame], job: Job
                    ) -> Iterator[tuple[FrameResult, np.ndarray]]:
        from fertk.tracking import FaceTracker, LandmarkFlow, Schedule, follow_faces

        max_missed = self.max_missed if self.max_missed is not None else max(2, 2 * self.detect_every)
        tracker = FaceTracker(max_missed=max_missed)
        flow = LandmarkFlow()
        rate, still = job.rate, job.still
        windows: dict[int, deque] = {}
        pending: list[_Pending] = []
        n_crops = 0
        schedule = Schedule(self.detect_every, self.scan_every or
                            max(self.detect_every, round(SCAN_SECONDS * job.fps)))
        last_time: float | None = None
        seen_face = False
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fertk-classify")
        future: Future | None = None
        try:
            for frame in frames:
                if still:  # unrelated stills: fresh tracks, always detect
                    tracker = FaceTracker(max_missed=0)
                    faces, detected = tracker.update(self.face_stage.faces(frame.image), 0), True
                    duration = None
                    if job.require_face and not faces:
                        raise NoFaceError(f"{frame.source}: no face found (a face is required: "
                                          "require_face=True, --require-face)")
                else:
                    faces, detected = follow_faces(self.face_stage, frame, tracker, flow, schedule)
                    nominal = self.stride / rate
                    duration = nominal if frame.time is None or last_time is None \
                        else max(0.0, frame.time - last_time)
                    last_time = frame.time
                closed = [t.id for t in tracker.pop_closed()]
                crops, kept = [], []
                for face, c in zip(faces, self.face_stage.crops(frame.image, faces), strict=True):
                    if c is None:
                        continue  # a degenerate face (e.g. landmarks outside the frame)
                    crops.append(c.image if self.illumination is None else self.illumination(c.image))
                    kept.append(face)
                pending.append(_Pending(frame, kept, crops, closed, detected, duration))
                n_crops += len(crops)
                seen_face = seen_face or bool(crops)
                if n_crops >= self.batch_size or len(pending) >= self.batch_size:
                    batch, pending, n_crops = pending, [], 0
                    if future is not None:
                        yield from future.result()
                    future = pool.submit(self._classify, batch, windows, job)
            if future is not None:
                yield from future.result()
                future = None
            if pending:
                yield from self._classify(pending, windows, job)
            if job.require_face and not still and not seen_face:
                raise NoFaceError(f"{job.item.name}: no face found in any frame (a face is "
                                  "required: require_face=True, --require-face)")
        finally:
            if future is not None:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)

    def _classify(self, batch: list[_Pending], windows: dict[int, deque],
                  job: Job) -> list[tuple[FrameResult, np.ndarray]]:
        still = job.still
        crops = [c for p in batch for c in p.crops]
        if crops:
            probs, feats = self._run_classifier(np.stack(crops))
        else:
            probs, feats = np.zeros((0, len(self.classes)), np.float32), None
        head = None if still else self.model.head  # a still: the frame model alone
        from fertk.models.sequence import input_kind

        head_features = head is not None and input_kind(head) == "features"
        out: list[tuple[FrameResult, np.ndarray]] = []
        k = 0
        for p in batch:
            n = len(p.crops)
            fprobs = probs[k : k + n]
            vectors = feats[k : k + n] if feats is not None else None
            inputs = vectors if head_features else fprobs
            k += n
            final = fprobs
            if head is not None and n:
                stacks = []
                for face, vec in zip(p.faces, inputs, strict=False):
                    key = face.track_id if (face.track_id is not None and not still) else -1
                    win = windows.get(key)
                    if win is None or key == -1:
                        win = windows[key] = deque(maxlen=self.window)
                    win.append(vec)
                    stacks.append(np.stack(win))
                final = self.classifier.head_windows(stacks)
            for tid in p.closed:
                windows.pop(tid, None)
            fr = p.frame
            keep_frame = job.frame_probs
            results = [
                FaceResult(
                    box=tuple(float(v) for v in face.box),
                    probs=final[i],
                    label=self.classes[int(np.argmax(final[i]))],
                    track=None if still else face.track_id,
                    score=float(face.score),
                    frame_probs=fprobs[i] if keep_frame else None,
                    landmarks=face.landmarks,
                    scheme=face.scheme,
                    embedding=vectors[i] if self.embeddings and vectors is not None else None,
                )
                for i, face in enumerate(p.faces)
            ]
            h, w = fr.image.shape[:2]
            out.append((FrameResult(fr.source, fr.index, fr.time, results, self.classes, (w, h),
                                    p.detected, p.duration), fr.image))
        return out


    def _run_classifier(self, crops: np.ndarray, features: bool | None = None
                        ) -> tuple[np.ndarray, np.ndarray | None]:
        """The classifier on a batch of crops; with ``features`` (default: ``embeddings``)
        the backbone's penultimate-layer vectors too."""
        want = self.embeddings if features is None else features
        if want:
            return self.classifier.classify(crops, features=True)
        return self.classifier.classify(crops)

    # -- faces cropped already, embeddings ---------------------------------------------------
    def whole_face_stage(self) -> Any:
        """The face stage of faces cropped already (detector ``none``: the whole image is the
        face, cropped as the model was trained on whole faces): this pipeline's own when its
        detector is ``none``, else one built once."""
        if self.detector_name == "none":
            return self.face_stage
        stage = getattr(self, "_whole_stage", None)
        if stage is None:
            from fertk.faces import FaceStage, model_crop_for

            args = {**self._crop_args, "crop": None, "crop_options": None}
            stage = self._whole_stage = FaceStage("none", model_crop=model_crop_for("none", self.model),
                                                  **args)
        return stage

    def classify(self, crops: Any, *, features: bool = False) -> list[FaceResult]:
        """One :class:`~fertk.io.results.FaceResult` per face cropped already (no detection:
        each image is the face): ``crops`` is a list of images (numpy arrays, BGR or gray;
        PIL images; paths) or a numpy array of them, ``(N, H, W)`` gray or ``(N, H, W, C)``.
        Classified in batches of ``batch_size``; ``features=True`` (or ``embeddings=True``)
        also gives each result its ``embedding``."""
        images = _crop_list(crops)
        stage = self.whole_face_stage()
        want = features or self.embeddings
        out: list[FaceResult] = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            cut = []
            for image in chunk:
                (face,) = stage.faces(image)
                (c,) = stage.crops(image, [face])
                if c is None:
                    raise FertkError(f"crop {start + len(cut)}: cannot be cropped ({image.shape})")
                cut.append(c.image if self.illumination is None else self.illumination(c.image))
            probs, feats = self._run_classifier(np.stack(cut), want)
            for i, image in enumerate(chunk):
                h, w = image.shape[:2]
                out.append(FaceResult(box=(0.0, 0.0, float(w), float(h)), probs=probs[i],
                                      label=self.classes[int(np.argmax(probs[i]))],
                                      classes=list(self.classes),
                                      embedding=feats[i] if want and feats is not None else None))
        return out

    def features(self, x: Any) -> np.ndarray:
        """The frame model's penultimate-layer vector of every face in the image ``x`` (a path,
        a numpy array or a PIL image), ``(faces, D)`` float32, in the order of
        ``analyze(x).faces`` (largest first); ``(0, 0)`` when no face is found."""
        if not (_is_picture(x) or _single_image_path(x)):
            raise FertkError("Pipeline.features: pass one image (a path, a numpy array or a PIL "
                             "image); for videos use Pipeline(embeddings=True).run(...)")
        before = self.embeddings
        self.embeddings = True
        try:
            res = self.analyze(x)
        finally:
            self.embeddings = before
        vectors = [f.embedding for f in res.faces if f.embedding is not None]
        return np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, 0), np.float32)


class NoFaceError(FertkError):
    """No face was found where one is required (``require_face=True``, ``--require-face``)."""


def _crop_list(crops: Any) -> list[np.ndarray]:
    """Images of faces cropped already, as BGR or gray uint8 arrays (see
    :meth:`Pipeline.classify`)."""
    from fertk.io.images import read_image

    if isinstance(crops, np.ndarray):
        if crops.ndim == 4 or (crops.ndim == 3 and crops.shape[-1] not in (3, 4)):
            return [to_bgr(c) for c in crops]
        raise FertkError(f"classify: an array of shape {crops.shape} is ambiguous: pass a list of "
                         "images, an (N, H, W) array of gray crops or an (N, H, W, C) array")
    if _is_picture(crops) or isinstance(crops, (str, os.PathLike)):
        raise FertkError("classify: pass a list of cropped faces (one image: [image])")
    try:
        items = list(crops)
    except TypeError:
        raise FertkError(f"classify: expected a list of images, got a {type(crops).__name__}") from None
    out = []
    for k, item in enumerate(items):
        if isinstance(item, (str, os.PathLike)):
            out.append(read_image(item))
        elif _is_picture(item):
            out.append(to_bgr(item))
        else:
            raise FertkError(f"classify: item {k} is a {type(item).__name__}, not an image")
    return out


# -- the Python API: fertk.analyze (fertk.api re-exports these) --------------------------------
class Results(list):
    """The per-frame results of :func:`analyze` (a list of ``FrameResult``)."""

    #: the model's class names (the ``p_<class>`` columns of an empty result's table)
    classes: list[str] | None = None

    def to_dataframe(self, landmarks: bool = False):
        """One row per face (see :func:`to_dataframe`)."""
        return to_dataframe(self, landmarks=landmarks, classes=self.classes)

    def plot_timeline(self, **kwargs: Any):
        """:func:`fertk.plots.plot_timeline` of these results (one source)."""
        from fertk.plots import plot_timeline

        return plot_timeline(self, **kwargs)

    def __repr__(self) -> str:
        faces = sum(len(r.faces) for r in self)
        sources = list(dict.fromkeys(r.source for r in self))
        names = ", ".join(os.path.basename(str(s)) for s in sources[:3])
        more = f", ... {len(sources) - 3} more" if len(sources) > 3 else ""
        return f"Results({len(self)} frame(s), {faces} face(s); {names}{more})"


def _is_picture(x: Any) -> bool:
    return isinstance(x, np.ndarray) or (hasattr(x, "convert") and hasattr(x, "size"))


def _single_image_path(x: Any) -> bool:
    from fertk.io.images import is_image_path

    return isinstance(x, (str, os.PathLike)) and os.path.isfile(x) and is_image_path(x)


def analyze_with(pipe: Any, x: Any, still: Callable[[np.ndarray, str], FrameResult],
                 source: str | None = None, require_face: bool | None = None
                 ) -> FrameResult | Results:
    """:meth:`fertk.Pipeline.analyze`: ``still(image, source)`` analyses one array;
    ``require_face`` goes to ``pipe.run`` for videos, folders and globs."""
    if _is_picture(x):
        return still(to_bgr(x), source or "<array>")
    if _single_image_path(x):
        from fertk.io.images import read_image

        return still(read_image(x), source or os.fspath(x))
    if isinstance(x, (list, tuple, dict)):  # each result keeps its input's index or name
        out = Results()
        out.classes = getattr(pipe, "classes", None)
        for k, item in (x.items() if isinstance(x, dict) else enumerate(x)):
            got = analyze_with(pipe, item, still, None if source is None else f"{source}[{k}]",
                               require_face)
            for rec in got if isinstance(got, Results) else [got]:
                rec.input = k
                out.append(rec)
        return out
    if isinstance(x, (str, os.PathLike, int)):
        target = os.fspath(x) if not isinstance(x, int) else x
        out = Results(pipe.run(target) if require_face is None
                      else pipe.run(target, require_face=require_face))
        out.classes = getattr(pipe, "classes", None)
        return out
    raise FertkError(f"cannot analyze a {type(x).__name__}: pass a path, a list of paths, a "
                     "numpy array (BGR or gray) or a PIL image")


#: The key under which a plugin context keeps the default pipeline of :func:`analyze`.
ANALYZE_PIPELINE = "fertk.analyze"


def analyze(x: Any, *, require_face: bool | None = None, **options: Any) -> FrameResult | Results:
    """Expressions of every face in ``x`` with the default (or given) pipeline.

    ``options`` are :class:`Pipeline` arguments (``weights``, ``detector``, ``context`` ...);
    the pipeline built without options (``context`` aside) is kept by its plugin context
    (:meth:`fertk.plugins.Context.cached`) for the next call, until the plugins change.
    ``require_face=True``: no face found is a :class:`NoFaceError` (one line, a
    :class:`~fertk.errors.FertkError`) instead of a result with no face (deepface's
    ``enforce_detection``).
    """
    return _pipeline(options).analyze(x, require_face=require_face)


def _pipeline(options: dict[str, Any]) -> Pipeline:
    """The pipeline of ``options`` (:class:`Pipeline` arguments): the plugin context's kept
    default one when there are none (``context`` aside)."""
    context = options.pop("context", None) or default_context()
    if not isinstance(context, Context):
        raise FertkError(f"analyze(context=): expected a fertk.plugins.Context, got a "
                         f"{type(context).__name__}")
    if options:
        return Pipeline(context=context, **options)
    return context.cached(ANALYZE_PIPELINE, lambda: Pipeline(context=context))


def classify(crops: Any, *, features: bool = False, **options: Any) -> list[FaceResult]:
    """One result per face cropped already (:meth:`Pipeline.classify`: no detection, each
    image is the face, in batches), with the default (or given) pipeline's model:
    ``fertk.classify([crop1, crop2])[0].label``."""
    return _pipeline(options).classify(crops, features=features)


def top_emotion(x: Any, *, require_face: bool = False, **options: Any) -> tuple[str, float] | None:
    """``(label, probability)`` of the largest face in the image ``x`` (a path, a numpy array
    or a PIL image), like fer's ``top_emotion``; ``None`` when no face is found, or a
    :class:`NoFaceError` with ``require_face=True``. ``options``: :class:`Pipeline` arguments."""
    if not (_is_picture(x) or _single_image_path(x)):
        raise FertkError("top_emotion: pass one image (a path, a numpy array or a PIL image)")
    res = analyze(x, require_face=require_face, **options)
    if not res.faces:
        return None
    face = max(res.faces, key=lambda f: f.w * f.h)
    return face.label, face.confidence


__all__ = ["ANALYZE_PIPELINE", "DEFAULT_WINDOW", "ModelSpec", "NoFaceError", "Pipeline", "Results",
           "analyze", "analyze_with", "classify", "resolve_model", "to_dataframe", "top_emotion",
           "weights_for_backbone"]
