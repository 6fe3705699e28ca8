"""Tests that guard ``fertk run``'s claims (issue #18): the default path, the one ``make demo``
runs (no --weights: the bundled minixception-fer2013 with its own crop), on the real demo
media, with the expressions the media README documents."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np

from fertk.cli import main

MEDIA = Path(__file__).resolve().parents[2] / "examples" / "media"


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_default_run_is_the_bundled_model_with_its_crop(tmp_path, capsys):
    """``fertk run VIDEO PHOTOS`` with every default: the bundled model and its box crop
    (not the landmark crop of trained checkpoints), its frame model smoothed; the woman of the
    demo video cries (sadness, then fear, to compact-fer2013) from 1.5 to 9.5 s and is happy
    after 11 s; the
    astronaut and Obama portraits are happy and Grace Hopper is neutral (examples/media/README.md).
    Fails if the pipeline ignores the model's crop."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("astronaut_eileen_collins.jpg", "grace_hopper.jpg",
                 "obama_official_portrait_2012.jpg"):
        shutil.copy(MEDIA / name, photos / name)
    out = tmp_path / "out"
    video = MEDIA / "pexels_wolfgang_langer.mp4"
    assert main(["run", str(video), str(photos), "--out", str(out), "--json",
                 "--no-annotate", "--no-timeline"]) == 0
    cap = capsys.readouterr()
    banner = " ".join(cap.err.split())
    from fertk.faces import crop_label
    from fertk.weights import bundled_metadata

    crop = bundled_metadata()["compact-fer2013"]["crop"]  # named with its options (#38)
    assert f"detector dlib, crop {crop_label(crop['name'], crop['options'])}, model " \
           "compact-fer2013" in banner
    summary = {s["name"]: s for s in json.loads(cap.out[cap.out.index("["):])}

    vid = summary["pexels_wolfgang_langer"]
    assert vid["frames"] == vid["decoded"] == 472 and vid["frames_without_face"] == 0
    assert [t["track"] for t in vid["tracks"]] == [1]  # one woman, one track throughout
    rows = _rows(out / "pexels_wolfgang_langer.csv")
    assert len(rows) == 472
    crying = Counter(r["label"] for r in rows if 1.5 <= float(r["time"]) < 9.5)
    last = Counter(r["label"] for r in rows if float(r["time"]) > 11.0)
    assert crying["fear"] + crying["sadness"] > 0.9 * crying.total()
    fear = Counter(r["label"] for r in rows if 7 <= float(r["time"]) < 9)
    assert fear["fear"] > 0.9 * fear.total()
    assert last["happy"] > 0.9 * last.total()

    labels = {Path(r["source"]).name: r["label"] for r in _rows(out / "photos.csv")}
    assert labels == {"astronaut_eileen_collins.jpg": "happy", "grace_hopper.jpg": "neutral",
                      "obama_official_portrait_2012.jpg": "happy"}


def _tracks_by_frame(recs):
    return [{f.track: f for f in r.faces} for r in recs]


def _sharpened(checkpoint, out):
    """The random-weight checkpoint with its frame classifier and GRU input weights scaled
    up, so frame outputs are far from uniform and the head's output depends on its window."""
    from safetensors.torch import load_file

    from fertk.checkpoint import save_checkpoint

    tensors = load_file(str(checkpoint) + ".safetensors")
    tensors["backbone.classifier.weight"] = tensors["backbone.classifier.weight"] * 300
    tensors["temporal.gru.weight_ih_l0"] = tensors["temporal.gru.weight_ih_l0"] * 20
    parts: dict[str, dict] = {"backbone": {}, "temporal": {}}
    for key, value in tensors.items():
        part, _, name = key.partition(".")
        parts[part][name] = value
    meta = json.loads(checkpoint.with_suffix(".json").read_text())
    keep = ("classes", "backbone", "temporal", "crop", "detector", "input_spec")
    save_checkpoint(out, parts, {k: meta[k] for k in keep})
    return out


def test_two_faces_keep_their_own_temporal_windows(media, checkpoint, tmp_path):
    """Two faces in one video: each track's head output is the head over that track's own
    last ``window`` frame outputs, from the frame the track began (never the other face's,
    never a closed track's). Fails if windows are shared between faces."""
    import fertk

    checkpoint = _sharpened(checkpoint, tmp_path / "sharp")
    pipe = fertk.Pipeline(weights=str(checkpoint), temporal="gru", smoothing=0, window=4,
                          detect_every=1)
    by_frame = _tracks_by_frame(pipe.run(str(media["two"])))
    assert len(by_frame) == 16 and all(set(f) == {1, 2} for f in by_frame)
    history: dict[int, list] = {1: [], 2: []}
    for faces in by_frame:
        for track, face in faces.items():
            history[track].append(face.frame_probs)
            expect = pipe.classifier.head(np.stack(history[track][-4:])[None])[0]
            np.testing.assert_allclose(face.probs, expect, rtol=1e-4, atol=1e-5)
    # the two faces are mirror images: their frame outputs differ, so mixing would show
    assert np.abs(history[1][0] - history[2][0]).max() > 0.05

    # a face that leaves for longer than max_missed returns as a new track with a new window
    short = fertk.Pipeline(weights=str(checkpoint), temporal="gru", smoothing=0, window=4,
                           detect_every=1, max_missed=1)
    seen: dict[int, list] = {}
    for faces in _tracks_by_frame(short.run(str(media["one"]))):
        for track, face in faces.items():
            seen.setdefault(track, []).append(face.frame_probs)
            expect = short.engine.head(np.stack(seen[track][-4:])[None])[0]
            np.testing.assert_allclose(face.probs, expect, rtol=1e-4, atol=1e-5)
    assert sorted(seen) == [1, 2]


def test_checkpoint_illumination_is_applied_at_run_time(tmp_path, checkpoint):
    """A checkpoint trained with HE (``illumination: he`` in its metadata) gets HE on every
    crop at run time: its frame outputs are those of the model on the equalised crop, and
    differ from the same weights without the setting. Fails if the pipeline skips it."""
    import cv2

    import fertk

    from .conftest import astronaut_face

    meta = json.loads(checkpoint.with_suffix(".json").read_text())
    assert "illumination" not in meta or not meta["illumination"]
    he_ckpt = tmp_path / "he"
    shutil.copy(str(checkpoint) + ".safetensors", str(he_ckpt) + ".safetensors")
    he_ckpt.with_suffix(".json").write_text(json.dumps({**meta, "illumination": "he"}))
    img = cv2.copyMakeBorder(astronaut_face(), 60, 60, 60, 60, cv2.BORDER_CONSTANT, value=(60,) * 3)

    he_pipe = fertk.Pipeline(weights=str(he_ckpt))
    plain_pipe = fertk.Pipeline(weights=str(checkpoint))
    got, plain = he_pipe.analyze(img).faces, plain_pipe.analyze(img).faces
    assert len(got) == len(plain) == 1
    face = he_pipe.detector.detect(img)[0]
    crop = he_pipe.cropper.crop(img, face).image
    equalised = fertk.create("augmentations", "he")(crop)
    assert not np.array_equal(equalised, crop)
    want, _ = he_pipe.classifier.classify(equalised[None])
    np.testing.assert_allclose(got[0].probs, want[0], rtol=1e-4, atol=1e-5)
    assert not np.allclose(got[0].probs, plain[0].probs, atol=1e-4)


CRASHY = '''
from fertk import hookimpl


class Crashy:
    """dlib, until it has run ``after`` times in this process; then a crash (a bug)."""

    calls = 0

    def __init__(self, after=6):
        import fertk

        self.inner = fertk.create("detectors", "dlib")
        self.after = after

    def detect(self, image):
        Crashy.calls += 1
        if Crashy.calls > self.after:
            raise RuntimeError("crashy detector crashed")
        return self.inner.detect(image)


@hookimpl
def register_detectors(register):
    register("crashy", Crashy, description="dlib that crashes", landmarks="dlib68")
'''


def test_a_crash_inside_a_worker_leaves_partial_outputs_and_an_error(
        tmp_path, media, checkpoint, capsys, fresh_plugins, make_distribution):
    """A bug in one job of a ``--workers 2`` run (a detector plugin raising mid-video): the
    run ends with exit 1 and the error (type, message and traceback) on stderr, and the job
    keeps the outputs of the frames before the crash: a CSV of those first frames and a
    summary. Fails if the worker's exception escapes, hangs the pool or loses the files."""
    make_distribution("fertk-crashy", "crashy", CRASHY)
    out = tmp_path / "out"
    code = main(["run", str(media["one"]), str(media["two"]), "--weights", str(checkpoint),
                 "--detector", "crashy", "--detector-option", "after=6", "--detect-every", "1",
                 "--batch-size", "1", "--workers", "2", "--out", str(out), "--no-annotate",
                 "--no-timeline"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("Error: 2 of 2 source(s) failed")
    assert "RuntimeError: crashy detector crashed" in err and "Traceback" in err
    for name in ("one", "two"):
        frames = sorted({int(r["frame"]) for r in _rows(out / f"{name}.csv")})
        # the first frames, classified before the 7th detection call crashed
        assert 0 < len(frames) <= 6 and frames == list(range(len(frames)))
        assert (out / f"{name}.summary.json").exists()


def test_crossing_faces_keep_their_tracks(tmp_path, checkpoint):
    """Two faces that pass each other (one row moving right, one moving left, so their left-
    to-right order swaps halfway): each track stays on its own face from the first frame to
    the last. Fails if tracks are matched by order or swap at the crossing."""
    import fertk
    from fertk.io.video import write_video

    from .conftest import astronaut_face

    face = astronaut_face()
    fh, fw = face.shape[:2]
    frames = []
    for i in range(30):
        canvas = np.full((420, 480, 3), 60, np.uint8)
        xa, xb = 10 + 11 * i, 480 - fw - 10 - 11 * i
        canvas[20:20 + fh, xa:xa + fw] = face
        canvas[260:260 + fh, xb:xb + fw] = face[:, ::-1]
        frames.append(canvas)
    video = write_video(tmp_path / "cross.mp4", frames, fps=12)
    pipe = fertk.Pipeline(weights=str(checkpoint), detect_every=3, smoothing=0)
    paths: dict[int, list[tuple[float, float]]] = {}
    for rec in pipe.run(str(video)):
        assert len(rec.faces) == 2
        for f in rec.faces:
            x1, y1, x2, y2 = f.box
            paths.setdefault(f.track, []).append(((x1 + x2) / 2, (y1 + y2) / 2))
    assert sorted(paths) == [1, 2] and all(len(p) == 30 for p in paths.values())
    top, bottom = sorted(paths.values(), key=lambda p: p[0][1])
    assert all(y < 210 for _, y in top) and all(y > 210 for _, y in bottom)  # no swap
    assert top[0][0] < bottom[0][0] and top[-1][0] > bottom[-1][0]  # they did cross
