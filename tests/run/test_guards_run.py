"""Tests that guard ``fertk run``'s claims (issue #18): the default path, the one ``make demo``
runs (no --weights: the bundled minixception-fer2013 with its own crop), on the real demo
media, with the expressions the media README documents."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

from fertk.cli import main

MEDIA = Path(__file__).resolve().parents[2] / "examples" / "media"


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_default_run_is_the_bundled_model_with_its_crop(tmp_path, capsys):
    """``fertk run VIDEO PHOTOS`` with every default: the bundled model and its box crop
    (not the landmark crop of trained checkpoints); the woman of the demo video is sad in
    the first 4 s and happy after 11 s; the astronaut and Obama portraits are happy and
    Grace Hopper is neutral. Fails if the pipeline ignores the model's crop."""
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
    assert "detector dlib, crop box, model minixception-fer2013" in banner
    summary = {s["name"]: s for s in json.loads(cap.out[cap.out.index("["):])}

    vid = summary["pexels_wolfgang_langer"]
    assert vid["frames"] == vid["decoded"] == 472 and vid["frames_without_face"] == 0
    assert [t["track"] for t in vid["tracks"]] == [1]  # one woman, one track throughout
    rows = _rows(out / "pexels_wolfgang_langer.csv")
    assert len(rows) == 472
    first = Counter(r["label"] for r in rows if float(r["time"]) < 4.0)
    last = Counter(r["label"] for r in rows if float(r["time"]) > 11.0)
    assert first.most_common(1)[0][0] == "sadness" and first["sadness"] > 0.8 * first.total()
    assert last["happy"] > 0.9 * last.total()

    labels = {Path(r["source"]).name: r["label"] for r in _rows(out / "photos.csv")}
    assert labels == {"astronaut_eileen_collins.jpg": "happy", "grace_hopper.jpg": "neutral",
                      "obama_official_portrait_2012.jpg": "happy"}
