"""examples/media/README's table of labels agrees with what the default model outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import fertk

MEDIA = Path(__file__).resolve().parents[2] / "examples" / "media"


def readme_labels() -> list[tuple[str, tuple[float, float] | None, str]]:
    """(file, (start, end) seconds or None, label) rows of the README's table."""
    rows = []
    for line in (MEDIA / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`") or cells[2] in ("label", "---"):
            continue
        span = tuple(float(v) for v in cells[1].split("-")) if cells[1] else None
        rows.append((cells[0].strip("`"), span, cells[2]))
    return rows


def test_the_table_tool_makes_spans_half_way_between_frames_and_replaces_only_the_table():
    import sys

    sys.path.insert(0, str(MEDIA.parents[1] / "tools"))
    try:
        import demo_labels
    finally:
        sys.path.pop(0)
    got = demo_labels.spans([0.0, 0.1, 0.2, 0.3, 0.4], ["a", "a", "b", "a", "a"])
    assert [label for *_, label in got] == ["a", "b", "a"]
    assert np.allclose([edge for a, b, _ in got for edge in (a, b)], [0, 0.15, 0.15, 0.25, 0.25, 0.4])
    assert demo_labels.spans([0.0, 0.1], ["a", "a"], end=0.15) == [(0.0, 0.15, "a")]
    assert demo_labels.spans([], []) == []
    text = "intro\n\n| file | seconds | label |\n| --- | --- | --- |\n| `x.jpg` | | sad |\n\noutro\n"
    new = demo_labels.replace_table(text, ["| file | seconds | label |", "| `x.jpg` | | happy |"])
    assert new == "intro\n\n| file | seconds | label |\n| `x.jpg` | | happy |\n\noutro\n"
    # the README's own table is the one the tool reads back
    readme = (MEDIA / "README.md").read_text(encoding="utf-8")
    assert demo_labels.replace_table(readme, readme.splitlines()[
        readme.splitlines().index(demo_labels.HEADER):][:2 + len(readme_labels())]) == readme


@pytest.fixture(scope="module")
def pipe():
    return fertk.Pipeline()


def test_the_photos_labels(pipe):
    stills = [(f, label) for f, span, label in readme_labels() if span is None]
    assert len(stills) == 3
    for name, label in stills:
        (face,) = pipe.analyze(str(MEDIA / name)).faces
        assert face.label == label, name


@pytest.mark.extended
def test_the_videos_labelled_timings(pipe):
    spans = [(span, label) for f, span, label in readme_labels() if span is not None]
    assert spans[0][0][0] == 0 and len(spans) >= 3
    frames = list(pipe.run(str(MEDIA / "pexels_wolfgang_langer.mp4")))
    assert abs(frames[-1].time - spans[-1][0][1]) < 0.1
    wrong = []
    for rec in frames:
        (face,) = rec.faces
        near_edge = any(abs(rec.time - edge) < 0.05 for span, _ in spans for edge in span)
        want = next(label for (a, b), label in spans if a <= rec.time <= b)
        if face.label != want and not near_edge:
            wrong.append((round(rec.time, 2), face.label, want))
    assert not wrong, wrong


def test_the_default_run_labels_the_demo_video_stably_and_follows_the_frame_model(pipe, tmp_path):
    """docs/run.md's "Label stability": the CSV of the default run on the demo video changes
    label at most 0.3 times a second, and in at least 90 % of one-second windows its most
    frequent label is the frame model's (the ``frame_label`` column)."""
    import csv

    from fertk.io.video import expand_sources
    from fertk.jobs import OutputOptions, run_job
    from fertk.temporal.smoothing import label_changes_per_second, window_agreement

    (item,) = expand_sources([str(MEDIA / "pexels_wolfgang_langer.mp4")])
    res = run_job(pipe, item, tmp_path, OutputOptions(annotate=False, timeline=False))
    assert res.error is None
    with open(res.files["csv"], newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["faces"] == "1"]
    assert len(rows) == res.frames == 472
    times = [float(r["time"]) for r in rows]
    labels = [r["label"] for r in rows]
    frame = [r["frame_label"] for r in rows]
    assert label_changes_per_second(frame, times) > 0.9  # the frame model alone flickers
    assert label_changes_per_second(labels, times) <= 0.3
    assert window_agreement(labels, frame, times) >= 0.9
