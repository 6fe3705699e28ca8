"""The collection's results table (fertk.io.table): one Parquet file per source in
OUT/results/faces and OUT/results/tracks, read back as one table by fertk.read_results."""

from __future__ import annotations

import csv

import pytest

import fertk
from fertk.cli import main
from fertk.errors import FertkError

from .conftest import CLASSES


def _csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_read_results_is_the_csvs_of_every_source_in_one_table(tmp_path, media, checkpoint):
    from fertk.io.table import SCHEMA_VERSION

    photo = fertk.__file__.rsplit("/fertk/", 1)[0] + "/tests/data/group.jpg"
    out = tmp_path / "out"
    assert main(["run", str(media["one"]), str(media["two"]), photo, "--weights",
                 str(checkpoint), "--engine", "torch", "--no-annotate", "--no-timeline",
                 "--out", str(out), "--landmarks"]) == 0
    faces, tracks = fertk.read_results(out)
    names = ["group", "one", "two"]
    assert list(faces["name"].unique()) == names
    for name in names:  # the same rows as each source's CSV, in its order
        rows = _csv(out / f"{name}.csv")
        part = faces[faces["name"] == name]
        assert len(part) == len(rows)
        assert [str(x) for x in part["frame"]] == [r["frame"] for r in rows]
        assert [x if isinstance(x, str) else "" for x in part["label"]] == [r["label"] for r in rows]
        assert (part["faces"] == 0).sum() == sum(r["faces"] == "0" for r in rows)
    assert list(faces.columns[:3]) == ["name", "source", "frame"]
    assert {f"p_{c}" for c in CLASSES} | {f"frame_p_{c}" for c in CLASSES} <= set(faces.columns)
    assert {"x_0", "y_67"} <= set(faces.columns)  # --landmarks
    assert faces["track"].isna().sum() >= 5  # the photo's five faces have no track
    assert str(faces["frame"].dtype) == "Int64" and str(faces["time"].dtype) == "float64"
    # tracks: one row per track (per image for the photo), as the tracks CSVs
    assert len(tracks) == sum(len(_csv(out / f"{n}.tracks.csv")) for n in names)
    assert {"name", "track", "dominant", *(f"s_{c}" for c in CLASSES)} <= set(tracks.columns)
    arrow_faces, _ = fertk.read_results(out, backend="arrow")
    assert arrow_faces.schema.metadata[b"fertk.schema"] == str(SCHEMA_VERSION).encode()
    assert arrow_faces.num_rows == len(faces)


def test_no_table_and_bad_folders_are_one_line(tmp_path, media, checkpoint):
    out = tmp_path / "out"
    assert main(["run", str(media["one"]), "--weights", str(checkpoint), "--engine", "torch",
                 "--max-frames", "3", "--no-annotate", "--no-timeline", "--no-table",
                 "--out", str(out)]) == 0
    assert not (out / "results").exists()
    with pytest.raises(FertkError, match="no results table"):
        fertk.read_results(out)
    with pytest.raises(FertkError, match="backend"):
        fertk.read_results(out, backend="excel")
