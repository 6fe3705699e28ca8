"""fertk.analyze / Pipeline.analyze on paths, lists, arrays and PIL images; DataFrames, reprs,
plot helpers (issue #16 item 1)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fertk
import fertk.api

DATA = Path(__file__).resolve().parent.parent / "data"
GROUP = DATA / "group.jpg"


@pytest.fixture(scope="module")
def pipe():
    return fertk.Pipeline()  # the bundled model: real expressions on real faces


def test_analyze_takes_a_path_a_list_an_array_and_a_pil_image(pipe):
    import functools

    import cv2
    from PIL import Image

    from fertk.pipeline import ANALYZE_PIPELINE

    context = fertk.Context()  # its default pipeline: the module's
    context.cached(ANALYZE_PIPELINE, lambda: pipe)
    analyze = functools.partial(fertk.analyze, context=context)
    bgr = cv2.imread(str(GROUP))
    one = analyze(str(GROUP))
    assert len(one.faces) == 5 and one.source == str(GROUP)
    arr = analyze(bgr)
    gray = analyze(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    pil = analyze(Image.open(GROUP))
    assert len(arr.faces) == len(pil.faces) == 5 and len(gray.faces) >= 4
    # the PIL image (RGB) is turned into BGR: the same boxes as the BGR array
    assert np.allclose(sorted(f.box for f in pil.faces), sorted(f.box for f in arr.faces), atol=2)
    many = analyze([str(GROUP), str(DATA / "astronaut.png")])
    assert isinstance(many, fertk.Results) and len(many) == 2
    assert "Results(2 frame(s), 6 face(s)" in repr(many)

    df = many.to_dataframe(landmarks=True)
    assert len(df) == 6 and list(df["source"].unique()) == [str(GROUP), str(DATA / "astronaut.png")]
    head = ["source", "frame", "time", "detected", "faces", "face", "track", "x1", "y1", "x2",
            "y2", "score", "label", "confidence"]
    assert list(df.columns[:19]) == ["input", *head[:11], "x", "y", "w", "h", *head[11:]]
    assert {f"p_{c}" for c in pipe.classes} <= set(df.columns)
    assert {"x_0", "y_0", "x_67", "y_67"} <= set(df.columns) and "x_68" not in df.columns
    dtypes = {c: str(t) for c, t in df.dtypes.items()}
    assert dtypes["time"] == "float64" and dtypes["track"] == "Int64"  # stills: no object columns
    assert dtypes["frame"] == "int64" and dtypes["detected"] == "bool"
    assert dtypes["label"] == dtypes["source"] == "string"
    assert "object" not in dtypes.values()
    assert df["time"].isna().all() and df["track"].isna().all()
    assert df["x_30"].between(df["x1"], df["x2"]).all()  # the nose tip inside its box
    assert one.to_dataframe()["label"].tolist().count("happy") >= 3


def test_a_string_array_is_refused_in_one_line(pipe):
    with pytest.raises(fertk.FertkError, match="expected an image array"):
        pipe.analyze(np.array(["a.jpg"]))
    with pytest.raises(fertk.FertkError, match="cannot analyze a set"):
        pipe.analyze({"a.jpg"})


def test_short_reprs(pipe):
    res = pipe.analyze(str(GROUP))
    text = repr(res.faces[0])
    assert len(text) < 140 and "68 landmarks" in text and "array" not in text
    assert len(repr(res)) < 200 and "5 face(s)" in repr(res)


def test_plot_helpers_from_python(pipe, tmp_path):
    res = pipe.analyze(str(GROUP))
    drawn = fertk.plot_faces(str(GROUP), res, path=tmp_path / "g.png")
    assert drawn.shape[:2] == (444, 1194) and (tmp_path / "g.png").is_file()
    fig = fertk.plot_timeline(pipe.analyze([str(GROUP)] * 3), path=tmp_path / "t.png")
    assert (tmp_path / "t.png").is_file() and fig.legends  # the legend is the figure's, outside


def test_label_panels_cover_no_other_face(pipe):
    """On the group photo each face's panel (label + bars) is placed clear of the other faces."""
    from fertk.plots import _panel_size, place_panel

    tiles = [(x, y, x + w, y + h) for x, y, w, h in json.loads((DATA / "group.json").read_text())["tiles"]]
    res = pipe.analyze(str(GROUP))
    boxes = [tuple(int(round(v)) for v in f.box) for f in res.faces]
    placed = []
    for i, f in enumerate(res.faces):
        size = _panel_size(res.classes, f"{f.label} 0.99", max(0.6, 444 / 600), True)
        panel = place_panel(f.box, size, (1194, 444), [b for k, b in enumerate(boxes) if k != i] + placed)
        for k, b in enumerate(boxes):
            if k != i:
                w = min(panel[2], b[2]) - max(panel[0], b[0])
                h = min(panel[3], b[3]) - max(panel[1], b[1])
                assert w <= 0 or h <= 0, (i, k, panel, b)
        placed.append(panel)
    assert len(tiles) == 5


def test_to_dataframe_names_the_extra_when_pandas_is_missing(tmp_path):
    code = ("import sys; sys.modules['pandas'] = None\n"
            "from fertk.api import to_dataframe\n"
            "try:\n    to_dataframe([])\nexcept Exception as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().count("\n") == 0 and "fertk[pandas]" in out.stdout


def test_import_fertk_stays_light():
    code = ("import sys, fertk; fertk.analyze; fertk.plot_faces; "
            "print(sorted(m for m in ('torch', 'pandas', 'cv2', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_timeline_draws_the_longest_tracks_and_names_the_rest(tmp_path):
    rng = np.random.default_rng(0)
    classes = ["a", "b", "c"]
    series = {k: [(t / 10, rng.dirichlet(np.ones(3))) for t in range(5 + k)] for k in range(1, 16)}
    fig = fertk.plot_timeline(series, classes, title="clip")
    rows = [ax for ax in fig.axes if ax.get_ylabel().startswith("track")]
    assert len(rows) == 12 and rows[0].get_ylabel() == "track 15"
    assert "the 12 longest of 15 tracks (3 not drawn)" in fig._suptitle.get_text()
    every = fertk.plot_timeline(series, classes, max_tracks=None)
    assert len([ax for ax in every.axes if ax.get_ylabel().startswith("track")]) == 15
    assert every._suptitle is None and len(fig.legends) == 1


def test_analyze_keeps_each_inputs_index_or_name_and_boxes_as_xywh(pipe):
    import cv2

    bgr = cv2.imread(str(GROUP))
    df = pipe.analyze([bgr, str(DATA / "astronaut.png")]).to_dataframe()
    assert df["input"].tolist() == [0] * 5 + [1] and str(df["input"].dtype) == "Int64"
    assert list(df.columns[:1]) == ["input"] and df["source"].tolist()[0] == "<array>"
    named = pipe.analyze({"group": bgr, "astronaut": str(DATA / "astronaut.png")}).to_dataframe()
    assert named["input"].tolist() == ["group"] * 5 + ["astronaut"]
    assert (df["x"] == df["x1"]).all() and (df["y"] == df["y1"]).all()
    assert np.allclose(df["w"], df["x2"] - df["x1"]) and np.allclose(df["h"], df["y2"] - df["y1"])
    cols = list(df.columns)
    assert cols[cols.index("y2") + 1:cols.index("y2") + 5] == ["x", "y", "w", "h"]
    assert "input" not in pipe.analyze(bgr).to_dataframe().columns  # one input: no index


def test_face_emotions_by_class_name_and_to_dict(pipe):
    res = pipe.analyze(str(GROUP))
    face = res.faces[0]
    assert list(face.emotions) == list(pipe.classes)
    assert sum(face.emotions.values()) == pytest.approx(1.0, abs=1e-4)
    assert max(face.emotions, key=face.emotions.get) == face.label
    d = face.to_dict()
    json.dumps(d)  # plain data
    assert d["label"] == face.label and d["emotions"][face.label] == pytest.approx(face.confidence, abs=1e-4)
    assert d["box"] == [round(v, 1) for v in face.box] and d["w"] == pytest.approx(face.box[2] - face.box[0], abs=0.11)
    assert "landmarks" not in d and len(face.to_dict(landmarks=True)["landmarks"]) == 68


def test_dir_and_tab_completion_offer_the_lazy_names():
    import rlcompleter

    names = dir(fertk)
    assert {"analyze", "Pipeline", "plot_faces", "plot_timeline", "Results", "to_dataframe"} <= set(names)
    completer = rlcompleter.Completer({"fertk": fertk})
    assert completer.complete("fertk.anal", 0).startswith("fertk.analyze")
    assert completer.complete("fertk.plot_t", 0).startswith("fertk.plot_timeline")


def test_face_result_by_hand_reads_its_frames_classes():
    from fertk.io.results import FaceResult, FrameResult

    face = FaceResult(box=(1, 2, 11, 22), probs=np.array([0.2, 0.8]), label="b",
                      frame_probs=np.array([0.6, 0.4]))
    with pytest.raises(fertk.FertkError, match="class names"):
        _ = face.emotions
    FrameResult("s", 0, None, [face], ["a", "b"])
    assert face.emotions == pytest.approx({"a": 0.2, "b": 0.8})
    assert face.frame_emotions == pytest.approx({"a": 0.6, "b": 0.4})
    d = face.to_dict()
    assert (d["x"], d["y"], d["w"], d["h"]) == (1, 2, 10, 20) and d["frame_label"] == "a"


def test_each_class_keeps_its_colour_across_models_and_the_y_axis_says_probability():
    from fertk.plots import class_color

    rng = np.random.default_rng(1)
    fer = ["anger", "disgust", "fear", "happy", "sadness", "surprise", "neutral"]
    ck = ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"]

    def colours(classes):
        fig = fertk.plot_timeline({1: [(t / 5, rng.dirichlet(np.ones(len(classes)))) for t in range(4)]},
                                  classes)
        assert fig._supylabel.get_text() == "probability"
        return {ln.get_label(): ln.get_color() for ln in fig.axes[0].get_lines()}

    a, b = colours(fer), colours(ck)
    assert all(a[c] == b[c] for c in set(fer) & set(ck))  # happy is happy in both models
    assert len(set(a.values())) == len(fer) and len(set(b.values())) == len(ck)
    assert class_color("Sad") == class_color("sadness") and class_color("HAPPY") == a["happy"]
    assert class_color("pain") == class_color("pain") != class_color("neutral")
