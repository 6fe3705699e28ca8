"""prepare(): real dlib over synthetic CK+, the content-keyed cache, reports of bad frames."""

from __future__ import annotations

import os

import numpy as np

import fertk
from fertk.data import PreparedSet, default_cache_dir, prepare


def test_dlib_finds_every_face_then_cache_hit(synth_root, tmp_path):
    root, manifest = synth_root
    ps = prepare("ckplus", root, cache_dir=tmp_path, workers=2, progress=False, mode="peak")
    n = sum(1 for s in manifest["sequences"] if s["label"])
    assert not ps.cache_hit and len(ps) == n
    assert ps.found.all(), ps.report.get("no_face")
    assert ps.crops.shape == (n, 120, 120) and ps.crops.dtype == np.uint8
    assert isinstance(ps.crops, np.memmap)
    assert ps.landmarks.shape == (n, 68, 2) and np.isfinite(ps.landmarks).all()
    # dlib's landmarks land near the generator's ground truth (mean error < 12% of the eye distance)
    ds = fertk.create("datasets", "ckplus", root=root, mode="peak")
    errs = []
    for i, s in enumerate(ds.samples()):
        truth = ds.landmarks(s)
        iod = np.linalg.norm(truth[36:42].mean(0) - truth[42:48].mean(0))
        errs.append(np.linalg.norm(ps.landmarks[i] - truth, axis=1)[17:].mean() / iod)
    assert np.mean(errs) < 0.12
    # the nose tip is the crop centre (paper's crop policy)
    nose = ps.crop_landmarks()[:, 30]
    assert np.allclose(nose, 59.5, atol=0.6)
    again = prepare("ckplus", root, cache_dir=tmp_path, workers=2, progress=False, mode="peak")
    assert again.cache_hit and again.key == ps.key and again.path == ps.path
    assert np.array_equal(np.asarray(again.crops), np.asarray(ps.crops))


def test_options_or_content_change_rebuild(synth_root, tmp_path):
    root, _ = synth_root
    kw = dict(detector="dataset", cache_dir=tmp_path, workers=1, progress=False, mode="peak")
    a = prepare("ckplus", root, **kw)
    b = prepare("ckplus", root, crop_options={"alpha": 1.2}, **kw)
    assert not b.cache_hit and b.key != a.key
    frame = a.paths[0]
    st = os.stat(frame)
    try:
        os.utime(frame, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        c = prepare("ckplus", root, **kw)
        assert not c.cache_hit and c.key != a.key
    finally:
        os.utime(frame, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert prepare("ckplus", root, **kw).cache_hit


def test_dataset_landmarks_sequences_and_groups(prepared_last3, synth_root):
    ps = prepared_last3
    _, manifest = synth_root
    n_seq = sum(1 for s in manifest["sequences"] if s["label"])
    assert len(ps) == 3 * n_seq and ps.found.all()
    groups = ps.sequence_groups()
    assert len(groups) == n_seq
    for rows in groups.values():
        assert list(ps.frame_index[rows]) == [1, 2, 3]
        assert ps.peak[rows].tolist() == [False, False, True]
        assert len(set(ps.labels[rows])) == 1
    assert len(ps.frame_indices(peak_only=True)) == n_seq
    assert ps.options["detector"] == "dataset"


def test_unreadable_and_faceless_frames_are_reported_not_dropped(tmp_path):
    import cv2

    from fertk.synth.render import Identity, param_vector, render_face

    root = tmp_path / "data"
    good, _ = render_face(Identity.random(np.random.default_rng(1)), param_vector({}), size=(192, 192),
                          face_px=46)
    (root / "happy").mkdir(parents=True)
    cv2.imwrite(str(root / "happy" / "s1-face.png"), good)
    cv2.imwrite(str(root / "happy" / "s2-blank.png"), np.full((192, 192), 120, np.uint8))
    (root / "happy" / "s3-broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    ps = prepare("folder", root, cache_dir=tmp_path / "cache", workers=1, progress=False)
    assert len(ps) == 3
    found = dict(zip([os.path.basename(p) for p in ps.paths], ps.found.tolist(), strict=True))
    assert found == {"s1-face.png": True, "s2-blank.png": False, "s3-broken.png": False}
    assert ps.report["no_face"]["count"] == 1 and ps.report["no_face"]["paths"][0].endswith("s2-blank.png")
    assert ps.report["unreadable"]["count"] == 1
    assert len(ps.frame_indices(peak_only=False)) == 1


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    """Prepared sets follow the one cache-root rule of the weights (fertk.fsutil.cache_root):
    $FERTK_CACHE_DIR, else $XDG_CACHE_HOME/fertk, else ~/.cache/fertk; they live in prepared/."""
    from fertk.weights import user_weights_dir

    monkeypatch.setenv("FERTK_CACHE_DIR", str(tmp_path / "env-cache"))
    assert default_cache_dir() == tmp_path / "env-cache" / "prepared"
    assert user_weights_dir() == tmp_path / "env-cache" / "weights"
    monkeypatch.delenv("FERTK_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "fertk" / "prepared"
    assert user_weights_dir() == tmp_path / "xdg" / "fertk" / "weights"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "fertk" / "prepared"


def test_detector_none_on_precropped_images(tmp_path):
    rows = ["emotion,pixels,Usage"]
    for i in range(3):
        rows.append(f"{i},{' '.join(['10'] * 24 * 48 + ['200'] * 24 * 48)},Training")
    (tmp_path / "fer2013.csv").write_text("\n".join(rows) + "\n")
    ps = prepare("fer2013", tmp_path, cache_dir=tmp_path / "cache", workers=2, progress=False)
    assert ps.options["detector"] == "none" and ps.found.all()
    crop = np.asarray(ps.crops[0])
    assert crop.shape == (120, 120) and crop[:50].mean() < 20 and crop[70:].mean() > 190
    assert isinstance(PreparedSet(ps.path), PreparedSet)


def test_cli_prepare_summary_and_json(synth_root, tmp_path):
    import json

    from click.testing import CliRunner

    from fertk.cli import cli

    root, _ = synth_root
    args = ["prepare", "ckplus", "--root", str(root), "--detector", "dataset", "--cache-dir",
            str(tmp_path), "-o", "mode=peak", "--quiet"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert "faces found" in r.output and "70 / 70" in r.output
    r = CliRunner().invoke(cli, args + ["--json"])
    doc = json.loads(r.output)
    assert doc["cache_hit"] is True and doc["faces_found"] == 70 and doc["no_face_paths"] == []


def test_failed_prepare_leaves_no_temporary_folder(synth_root, tmp_path, fresh_plugins):
    """Ctrl-C (or any failure) half-way through leaves neither a cache nor its .tmp- folder."""
    import pytest

    from fertk import hookimpl
    from fertk.types import Face

    class StopsHalfway:
        """A detector that finds the whole image, then the user presses Ctrl-C."""

        calls = 0

        def detect(self, image):
            StopsHalfway.calls += 1
            if StopsHalfway.calls > 5:
                raise KeyboardInterrupt
            h, w = image.shape[:2]
            return [Face(box=(0.0, 0.0, float(w), float(h)), score=1.0)]

    class Plugin:
        @hookimpl
        def register_detectors(self, register):
            register("stops_halfway", lambda **kw: StopsHalfway())

    fresh_plugins.register_plugin(Plugin(), name="stops")
    root, _ = synth_root
    with pytest.raises(KeyboardInterrupt):
        prepare("ckplus", root, detector="stops_halfway", crop="box", cache_dir=tmp_path,
                workers=1, progress=False, mode="peak")
    assert StopsHalfway.calls == 6
    assert list(tmp_path.iterdir()) == []
