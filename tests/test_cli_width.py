"""Output at an 80-column terminal (issue #38 item 5): tables fit, no row is broken mid-word,
file names stay whole (:mod:`fertk.clitable`), for ``fertk detect`` and ``fertk run``'s
summary on real photos and the demo video."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from click.testing import CliRunner

from fertk.cli import cli
from fertk.clitable import fit, wrap

REPO = Path(__file__).resolve().parent.parent
MEDIA = REPO / "examples" / "media"


def _words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9_.+-]{4,}", text))


def test_fit_never_breaks_a_word_and_drops_columns_in_order():
    cols = ["source", "kind", "frames", "time in each (s)", "seconds"]
    rows = [["videos/pexels_wolfgang_langer.mp4", "video", "472", "sadness 10.5, neutral 4.1, "
             "happy 2.2, surprise 1.9", "19.6"], ["photo.jpg", "image", "1", "happy 1.0", "0.1"]]
    wide = fit(cols, rows, 200, no_wrap=("source",))
    assert wide.dropped == [] and all("\n" not in c for r in wide.rows for c in r)
    narrow = fit(cols, rows, 40, no_wrap=("source",), drop=("seconds", "kind", "frames"))
    assert narrow.dropped == ["seconds", "kind", "frames"] and narrow.width <= 40
    text = "\n".join(c for r in narrow.rows for c in r)
    assert "pexels_wolfgang_langer.mp4" in text.split("\n")  # broken only after the "/"
    for original, cell in zip(rows[0][3].split(), " ".join(narrow.rows[0][1].split("\n")).split(),
                              strict=True):
        assert original == cell  # wrapped at spaces: every word whole
    assert wrap("a/b c", 3, "words") == "a/b\nc" and wrap("a/b c", 2, "path") == "a/\nb c"


def test_detect_at_80_columns_keeps_file_names_whole(tmp_path):
    deep = tmp_path / "a_rather_long_folder_name" / "and_another_one_below_it"
    deep.mkdir(parents=True)
    photos = [shutil.copy(MEDIA / "grace_hopper.jpg", deep), REPO / "tests" / "data" / "group.jpg"]
    res = CliRunner().invoke(cli, ["detect", *map(str, photos)], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert max(len(ln) for ln in lines) <= 80, res.output
    table = "\n".join(ln for ln in lines if ln.startswith(("│", "┃")))
    for name in ("grace_hopper.jpg", "group.jpg", "a_rather_long_folder_name/",
                 "and_another_one_below_it/"):
        assert name in table, res.output
    assert "total: 2 files" in table and "faces" in table


def test_run_summary_at_80_columns_keeps_the_source_name_whole(tmp_path):
    res = CliRunner().invoke(cli, ["run", str(MEDIA / "pexels_wolfgang_langer.mp4"),
                                   str(MEDIA / "grace_hopper.jpg"), "--max-frames", "8",
                                   "--out", str(tmp_path / "out"), "--no-annotate", "--no-timeline",
                                   "--no-table"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert max(len(ln) for ln in lines) <= 80, res.stdout
    rows = [ln for ln in lines if ln.startswith("│")]
    assert any("pexels_wolfgang_langer" in _words(ln) for ln in rows), res.stdout
    assert any("grace_hopper.jpg" in _words(ln) for ln in rows), res.stdout
