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
    assert list(df.columns[:14]) == head
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
    with pytest.raises(fertk.FertkError, match="cannot analyze a dict"):
        pipe.analyze({"a": 1})


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
