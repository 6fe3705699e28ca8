"""``prepare()``: run a detector and a crop policy once over a data set, into a content-keyed cache.

The cache key hashes the data (every frame's path, size and modification time; the
landmark files too when they are used), the data set's options and the preprocessing
(detector, crop policy and their options), so any change rebuilds and a rerun with nothing
changed loads the existing arrays (``PreparedSet.cache_hit``) without touching an image.

Detectors: any registered name (``dlib`` default, ``opencv``, plugins), ``dataset`` (the
landmarks shipped with the data set, e.g. CK+ ``Landmarks/``: no detection at all), or
``none`` (the whole image is the face, for pre-cropped data such as FER2013). Work runs in
``workers`` processes (spawned, each builds its detector once); frames without a face or
that cannot be read keep a row with ``found=False`` and are listed in the report.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np

from fertk.data.prepared import CACHE_FORMAT, DamagedCacheError, PreparedSet
from fertk.errors import FertkError
from fertk.faces import PSEUDO_DETECTORS
from fertk.fsutil import cache_root

SPECIAL_DETECTORS = tuple(PSEUDO_DETECTORS)  # no detection: the data set's landmarks, the whole image
CHUNK = 8


def default_cache_dir() -> Path:
    """Where prepared sets live: ``prepared/`` under :func:`fertk.fsutil.cache_root`."""
    return cache_root() / "prepared"


def _stat_key(path: str) -> str:
    real = path.partition("#")[0] if "#" in path and not os.path.exists(path) else path
    try:
        st = os.stat(real)
    except OSError:
        return f"{os.path.abspath(path)}|missing"
    return f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"


def cache_key(ds: Any, samples: list, detector: str, detector_options: dict, crop: str,
              crop_options: dict) -> str:
    """sha256 of the data's files (path, size, mtime), the data set options and preprocessing."""
    h = hashlib.sha256()
    head = {"format": CACHE_FORMAT, "dataset": ds.name, "options": ds.options(),
            "detector": detector, "detector_options": detector_options, "crop": crop,
            "crop_options": crop_options}
    h.update(json.dumps(head, sort_keys=True, default=str).encode())
    stats: dict[str, str] = {}
    lm_path = getattr(ds, "landmark_path", None)
    for s in samples:
        for p in s.paths:
            key = p.partition("#")[0] if "#" in p else p
            if key not in stats:
                stats[key] = _stat_key(key)
            h.update(f"{p}\x00{stats[key]}\x00{s.label}\x00{s.subject}\x00{s.sequence}\n".encode())
        if detector == "dataset" and lm_path is not None:
            h.update(_stat_key(str(lm_path(s))).encode())
    return h.hexdigest()


# -- worker side ---------------------------------------------------------------------------
_W: dict[str, Any] = {}


def _init_worker(ds: Any, detector: str, detector_options: dict, crop: str, crop_options: dict,
                 context: Any = None) -> None:
    from fertk.faces import FaceStage

    _W["ds"] = ds
    _W["stage"] = FaceStage(detector, crop, detector_options=detector_options,
                            crop_options=crop_options, context=context)
    _W["scheme"] = getattr(ds, "landmark_scheme", None) or "dlib68"


def _process(job: tuple[int, Any]) -> tuple:
    """``(row, crop|None, landmarks|None, matrix|None, score, status, message, n_faces)``."""
    from fertk.types import Face

    row, sample = job
    ds, stage = _W["ds"], _W["stage"]
    path = sample.paths[0]
    try:
        image = ds.read_frame(path)
    except Exception as exc:  # corrupt file: skipped and reported, never aborts the rest
        return row, None, None, None, 0.0, "unreadable", str(exc).splitlines()[0][:200], 0
    if stage.detector_name == "dataset":
        pts = ds.landmarks(sample)
        if pts is None:
            return row, None, None, None, 0.0, "no_landmarks", path, 0
        lo, hi = pts.min(0), pts.max(0)
        faces = [Face(box=(*lo, *hi), score=1.0, landmarks=pts, scheme=_W["scheme"])]
    else:
        faces = stage.faces(image)
    if not faces:
        return row, None, None, None, 0.0, "no_face", path, 0
    face = faces[0]
    errors: list[Exception] = []
    try:
        (fc,) = stage.crops(image, [face], lambda _, exc: errors.append(exc))
    except Exception as exc:  # a crop policy's own failure (a plugin's): this row only
        errors.append(exc)
    if errors:
        return row, None, None, None, 0.0, "crop_failed", f"{path}: {errors[0]}"[:200], len(faces)
    lm = None if face.landmarks is None else np.asarray(face.landmarks, np.float32)
    return row, fc.image, lm, np.asarray(fc.matrix, np.float32), float(face.score), "ok", "", len(faces)


def _run_chunk(jobs: list) -> list:
    return [_process(j) for j in jobs]


# -- main side -----------------------------------------------------------------------------
def _progress_bar(enabled: bool, total: int, label: str):
    from contextlib import nullcontext

    if not enabled:
        return nullcontext(None)
    from fertk.clitools import progress_bar

    return progress_bar("{task.fields[fps]} fps", remaining=True, transient=False)


def _resolve_components(ds: Any, detector: str | None, crop: str | None,
                        detector_options: dict | None, crop_options: dict | None,
                        context: Any = None):
    """Names and options of the face stage (:func:`fertk.faces.settle_crop` picks the crop)."""
    from fertk.faces import choose_detector, settle_crop

    detector = choose_detector(detector, getattr(ds, "default_detector", None))
    detector_options = dict(detector_options or {})
    if detector == "dataset" and not hasattr(type(ds), "landmark_path"):
        raise FertkError(f"detector 'dataset': the {ds.name} data set ships no landmarks "
                         "(use a detector such as dlib)")
    crop, crop_options = settle_crop(detector, crop, crop_options, context=context)  # unknown: one error
    return detector, crop, detector_options, crop_options


def prepare(
    dataset: str | Any,
    root: str | os.PathLike | None = None,
    *,
    detector: str | None = None,
    crop: str | None = None,
    detector_options: dict | None = None,
    crop_options: dict | None = None,
    cache_dir: str | os.PathLike | None = None,
    workers: int = 2,
    progress: bool = True,
    rebuild: bool = False,
    context: Any = None,
    **dataset_options: Any,
) -> PreparedSet:
    """Detect, crop and cache every frame of a data set; return the :class:`PreparedSet`.

    ``dataset`` is a registered name (built with ``root`` and ``dataset_options``) or a data
    set object. ``detector`` defaults to the data set's (``dlib``; ``none`` for FER2013);
    ``crop`` to ``landmark`` (``box`` with detector ``none``). ``cache_dir`` defaults to
    ``prepared/`` under the fertk cache root (:func:`default_cache_dir`). ``rebuild=True`` ignores a cache.
    Names are looked up in ``context``'s registries (a :class:`fertk.plugins.Context`; default:
    the default one); a context other than the default keeps the work in this process, where
    its plugins are (worker processes load only the default plugins).
    """
    from fertk.plugins import default_context, get_registry

    if isinstance(dataset, str):
        if root is None:
            raise FertkError(f"prepare {dataset}: a root folder is required")
        ds = get_registry("datasets", context).create(dataset, root=root, **dataset_options)
    else:
        ds = dataset
    detector, crop, detector_options, crop_options = _resolve_components(
        ds, detector, crop, detector_options, crop_options, context)
    if context is not None and context is not default_context():
        workers = 1
    samples = ds.samples()
    key = cache_key(ds, samples, detector, detector_options, crop, crop_options)
    base = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    final = base / f"{ds.name}-{key[:16]}"
    if base.is_dir():
        remove_stale_temporaries(base)
    if (final / "meta.json").is_file() and not rebuild:
        try:
            return PreparedSet(final, cache_hit=True)
        except DamagedCacheError as exc:  # rebuilt from the data set: same key, same content
            import sys

            print(f"fertk: warning: {exc}; rebuilding it", file=sys.stderr)
    return _build(ds, samples, final, key, detector, detector_options, crop, crop_options,
                  workers, progress, context)


def _build(ds, samples, final: Path, key: str, detector: str, detector_options: dict, crop: str,
           crop_options: dict, workers: int, progress: bool, context: Any = None) -> PreparedSet:
    init = (ds, detector, detector_options, crop, crop_options)
    # build the detector and crop here first: a bad option fails before any work starts (in
    # a worker pool's initializer it would make the pool respawn workers for ever); in-process
    # work (workers=1, small sets) uses this stage
    _init_worker(*init, context=context)
    size = int(crop_options.get("size", 120))
    from fertk.fsutil import make_dir

    make_dir(final.parent, "--cache-dir")
    tmp = final.parent / f".{final.name}.tmp-{socket.gethostname()}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        return _fill(ds, samples, final, tmp, key, init, size, workers, progress)
    except BaseException:  # failed or interrupted: leave no half-written cache behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sample_targets(samples: list, classes: int) -> np.ndarray | None:
    """``(N, classes)`` float32 targets of samples that carry one (:attr:`Sample.target`),
    a one-hot row of the label for those that do not; ``None`` when no sample has one."""
    if not any(getattr(s, "target", None) is not None for s in samples):
        return None
    out = np.zeros((len(samples), classes), np.float32)
    for i, s in enumerate(samples):
        if s.target is not None:
            out[i] = s.target
        elif s.label is not None and s.label >= 0:
            out[i, s.label] = 1.0
    return out


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would end the process there: assume it runs
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def remove_stale_temporaries(base: Path) -> list[Path]:
    """Remove the ``.<cache>.tmp-<host>-<pid>`` folders that a killed ``prepare`` (``kill -9``,
    a power cut) left in ``base``: those of this machine whose process is gone. Returns them."""
    host = socket.gethostname()
    removed = []
    for path in base.glob(".*.tmp-*"):
        owner, _, pid = path.name.rpartition(".tmp-")[2].rpartition("-")
        if not path.is_dir() or not pid.isdigit() or (owner and owner != host):
            continue
        if not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _fill(ds, samples, final: Path, tmp: Path, key: str, init: tuple, size: int, workers: int,
          progress: bool) -> PreparedSet:
    """Run every sample through the detector and crop into ``tmp``, then move it to ``final``."""
    import fertk

    _, detector, detector_options, crop, crop_options = init
    n = len(samples)
    crops = np.lib.format.open_memmap(tmp / "crops.npy", mode="w+", dtype=np.uint8, shape=(n, size, size))
    landmarks: list[np.ndarray | None] = [None] * n
    matrices = np.full((n, 2, 3), np.nan, np.float32)
    scores = np.zeros(n, np.float32)
    found = np.zeros(n, bool)
    report: dict[str, Any] = {"dataset": dict(ds.report)}
    problems: dict[str, list[str]] = {}
    multi = 0
    jobs = [(i, s) for i, s in enumerate(samples)]
    chunks = [jobs[i : i + CHUNK] for i in range(0, n, CHUNK)]
    t0 = time.perf_counter()
    workers = max(1, int(workers))

    def consume(results, bar, task):
        nonlocal multi
        for row, img, lm, m, score, status, msg, nfaces in results:
            if status == "ok":
                crops[row] = img
                landmarks[row] = lm
                matrices[row] = m
                scores[row] = score
                found[row] = True
                multi += nfaces > 1
            else:
                problems.setdefault(status, []).append(msg or samples[row].paths[0])
        if bar is not None:
            done = bar.tasks[0].completed + len(results)
            fps = done / max(time.perf_counter() - t0, 1e-9)
            bar.update(task, advance=len(results), fps=f"{fps:.1f}")

    with _progress_bar(progress, n, ds.name) as bar:
        task = bar.add_task(f"prepare {ds.name}", total=n, fps="-") if bar is not None else None
        if workers == 1 or n <= CHUNK:
            for chunk in chunks:
                consume(_run_chunk(chunk), bar, task)
        else:
            import multiprocessing as mp

            ctx = mp.get_context("spawn")
            with ctx.Pool(min(workers, len(chunks)), initializer=_init_worker, initargs=init) as pool:
                for results in pool.imap_unordered(_run_chunk, chunks):
                    consume(results, bar, task)
    elapsed = time.perf_counter() - t0
    crops.flush()
    npts = max((len(x) for x in landmarks if x is not None), default=0)
    lm_arr = np.full((n, npts, 2), np.nan, np.float32)
    for i, x in enumerate(landmarks):
        if x is not None and len(x) == npts:
            lm_arr[i] = x
    arrays = {
        "landmarks": lm_arr, "matrices": matrices, "scores": scores, "found": found,
        "labels": np.array([-1 if s.label is None else s.label for s in samples], np.int64),
        "frame_index": np.array([s.frame_index for s in samples], np.int64),
        "peak": np.array([s.peak for s in samples], bool),
    }
    targets = sample_targets(samples, len(ds.classes))
    if targets is not None:
        arrays["targets"] = targets
    for name, arr in arrays.items():
        np.save(tmp / f"{name}.npy", arr)
    for status, items in problems.items():
        report[status] = {"count": len(items), "paths": sorted(items)}
    report["multiple_faces"] = int(multi)
    meta = {
        "format": CACHE_FORMAT, "key": key, "dataset": ds.name, "root": str(ds.root),
        "classes": list(ds.classes),
        **({"target_kind": getattr(ds, "target_kind", "soft")} if targets is not None else {}),
        "subjects": [s.subject for s in samples], "sequences": [s.sequence for s in samples],
        "paths": [s.paths[0] for s in samples],
        "options": {"dataset": ds.options(), "detector": detector, "detector_options": detector_options,
                    "crop": crop, "crop_options": crop_options},
        "report": report, "fertk_version": fertk.__version__,
        "build": {"seconds": round(elapsed, 3), "fps": round(n / max(elapsed, 1e-9), 2),
                  "workers": workers, "created": time.strftime("%Y-%m-%dT%H:%M:%S")},
    }
    (tmp / "meta.json").write_text(json.dumps(meta, default=str), encoding="utf-8")
    try:
        os.replace(tmp, final)
    except OSError:  # another process finished the same cache first
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    return PreparedSet(final, cache_hit=False)
