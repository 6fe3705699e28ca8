"""Stills, globs and folders; CSV columns; --show without a display; weights list at 80
columns (issue #16 items 4-6)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fertk.cli import cli
from fertk.io.video import expand_sources

REPO = Path(__file__).resolve().parent.parent.parent
MEDIA = REPO / "examples" / "media"
PHOTOS = sorted(MEDIA.glob("*.jpg"))


def _run(args, **kw):
    return CliRunner().invoke(cli, ["run", *map(str, args)], catch_exceptions=False, **kw)


def test_quoted_and_unquoted_globs_give_the_same_outputs(tmp_path):
    quoted = expand_sources([str(MEDIA / "*.jpg")])
    unquoted = expand_sources([str(p) for p in PHOTOS])  # what the shell passes
    assert [(i.kind, i.name, i.paths) for i in quoted] == [(i.kind, i.name, i.paths) for i in unquoted]
    assert len(quoted) == 1 and quoted[0].name == "media" and len(quoted[0].paths) == 3
    one = expand_sources([str(PHOTOS[0])])
    assert one[0].name == PHOTOS[0].stem


def test_a_run_of_three_photos_speaks_of_images_and_counts(tmp_path):
    out = tmp_path / "out"
    res = _run([*PHOTOS, REPO / "tests" / "data" / "group.jpg", "--out", out])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in out.iterdir())
    assert len([n for n in names if n.endswith(".csv")]) == 2  # one CSV + one tracks.csv
    annotated = next(p for p in out.iterdir() if p.name.endswith(".annotated"))
    assert sorted(p.name for p in annotated.iterdir()) == sorted(
        [p.stem + ".jpg" for p in PHOTOS] + ["group.jpg"])  # one picture per image, its name
    assert "seconds" not in res.output and "time in each" not in res.output
    assert "faces per expression" in res.output and "4 image(s)" in res.output
    group_line = next(ln for ln in res.output.splitlines() if "group.jpg" in ln)
    assert "│ 5 " in group_line  # five faces
    tracks = list(csv.DictReader(open(next(out.glob("*.tracks.csv")), encoding="utf-8")))
    assert "s_happy" not in tracks[0] and sum(int(t["n_happy"]) for t in tracks) >= 3
    assert [t["faces"] for t in tracks if t["source"].endswith("group.jpg")] == ["5"]


def test_recursive_stills_with_the_same_name_stay_apart(tmp_path):
    """``fertk run DIR -r``: annotated stills are named by their path relative to DIR, so
    a/x.jpg and b/x.jpg do not overwrite each other; files named directly keep their stem."""
    nested = tmp_path / "nested"
    for sub in ("a", "b"):
        (nested / sub).mkdir(parents=True)
        shutil.copy(PHOTOS[0], nested / sub / "x.jpg")
    (item,) = expand_sources([str(nested)], recursive=True)
    assert item.names == ["a/x", "b/x"]
    (flat,) = expand_sources([str(p) for p in PHOTOS])
    assert flat.names == [p.stem for p in PHOTOS]
    out = tmp_path / "out"
    res = _run([nested, "-r", "--out", out, "--no-timeline"])
    assert res.exit_code == 0, res.output
    annotated = out / "nested.annotated"
    assert sorted(p.relative_to(annotated).as_posix() for p in annotated.rglob("*.jpg")) == \
        ["a/x.jpg", "b/x.jpg"]


def test_folders_say_when_only_subfolders_hold_images(tmp_path):
    nested = tmp_path / "nested"
    (nested / "a").mkdir(parents=True)
    shutil.copy(PHOTOS[0], nested / "a" / "x.jpg")
    res = _run([nested, "--out", tmp_path / "o"])
    assert res.exit_code == 1
    assert "sub-folders hold 1" in res.output and "-r/--recursive" in res.output
    items = expand_sources([str(nested)], recursive=True)
    assert items[0].paths == [str(nested / "a" / "x.jpg")] and items[0].name == "nested"


def test_show_without_a_display_is_one_line(tmp_path, monkeypatch, media, checkpoint):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    res = _run([media["one"], "--weights", checkpoint, "--show", "--max-frames", "4", "--out",
                tmp_path])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if "--show" in ln]
    assert lines == ["--show: no display (DISPLAY is not set); running without the preview "
                     "window"]
    assert (tmp_path / "one.csv").is_file()


def test_preview_shows_each_frame(monkeypatch, media, checkpoint):
    """With a display, each processed frame goes to the window and the results are unchanged."""
    import cv2

    import fertk
    from fertk.io import preview

    shown = []
    monkeypatch.setattr(preview, "display_problem", lambda: None)
    monkeypatch.setattr(cv2, "imshow", lambda name, img: shown.append(img.shape))
    monkeypatch.setattr(cv2, "waitKey", lambda ms: -1)
    monkeypatch.setattr(cv2, "destroyWindow", lambda name: None)
    pipe = fertk.Pipeline(weights=str(checkpoint))
    wrapped = preview.Preview.wrap(pipe, None)
    (item,) = expand_sources([str(media["one"])])
    recs = [r for r, _ in wrapped.run_item(item)]
    assert len(shown) == len(recs) == 24 and wrapped.classes == pipe.classes


def test_weights_list_keeps_names_whole_at_80_columns():
    res = CliRunner().invoke(cli, ["weights", "list"], env={"COLUMNS": "80"},
                             catch_exceptions=False)
    assert res.exit_code == 0
    assert "minixception-fer2013" in res.output  # on one line, not folded
    assert max(len(ln) for ln in res.output.splitlines()) <= 80


@pytest.mark.parametrize("value", ["0", "3"])
def test_stride_alias_every_is_the_same_option(value):
    from fertk.commands.run import run_command

    if value == "0":
        with pytest.raises(Exception, match="0"):
            run_command.make_context("run", ["x.jpg", "--every", value])
    else:
        assert run_command.make_context("run", ["x.jpg", "--every", value]).params["stride"] == 3


def test_stills_and_videos_have_separate_summary_tables():
    from fertk.commands.run import summary_tables
    from fertk.io.job import JobSummary

    photo = JobSummary(name="media", source="media", kind="images", stills=True, frames=2, tracks=[
        {"source": "/x/a.jpg", "track": 0, "start": None, "frames": 2, "dominant": "happy",
         "frames_in": {"happy": 2, "sadness": 0}}])
    clip = JobSummary(name="clip", source="clip.mp4", kind="video", frames=30, tracks=[
        {"source": "clip.mp4", "track": 1, "start": 0.0, "frames": 30, "seconds": 1.0,
         "dominant": "neutral", "time_in": {"neutral": 0.8, "happy": 0.2}}])
    broken = JobSummary(name="bad", source="bad.mp4", kind="video", error="cannot decode")
    (stills, videos) = summary_tables([photo, clip, broken])
    assert stills == ("image", ["image", "faces", "dominant", "faces per expression"],
                      [["a.jpg", 2, "happy", "happy 2"]])
    what, cols, rows = videos
    assert what == "track" and "time in each (s)" in cols
    assert rows == [["clip", 1, 30, 1.0, "neutral", "neutral 0.8, happy 0.2"],
                    ["bad", "", "", "", "ERROR", "cannot decode"]]
    assert [t[0] for t in summary_tables([photo])] == ["image"]
