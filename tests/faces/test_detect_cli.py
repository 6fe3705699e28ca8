"""``fertk detect`` end to end: images, folders with corrupt files, videos, options."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from fertk.cli import cli


def run(args, **kw):
    result = CliRunner().invoke(cli, args, catch_exceptions=False, **kw)
    return result


def test_done_when_astronaut_landmark_crop(tmp_path, astronaut_path):
    out, js = tmp_path / "out", tmp_path / "faces.json"
    res = run(["detect", str(astronaut_path), "--detector", "dlib", "--crop", "landmark",
               "--save-crops", str(out), "--json", str(js)])
    assert res.exit_code == 0, res.output
    pngs = list(out.glob("*.png"))
    assert len(pngs) == 1
    crop = cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED)
    assert crop.shape == (120, 120) and crop.dtype == np.uint8  # gray PNG
    records = json.loads(js.read_text())
    assert len(records) == 1 and records[0]["source"] == str(astronaut_path)
    (face,) = records[0]["faces"]
    assert len(face["landmarks"]) == 68 and face["scheme"] == "dlib68"
    assert len(face["box"]) == 4 and face["score"] > 0.5 and face["crop"] == str(pngs[0])
    assert "astronaut" in res.output and "total" in res.output  # summary table


def test_folder_with_corrupt_and_faceless_files(tmp_path, astronaut_path, group_path):
    src = tmp_path / "photos"
    src.mkdir()
    shutil.copy(astronaut_path, src / "a_astronaut.png")
    shutil.copy(group_path, src / "c_group.jpg")
    (src / "b_corrupt.jpg").write_bytes(group_path.read_bytes()[:3000])
    cv2.imwrite(str(src / "d_blank.png"), np.full((120, 160, 3), 90, np.uint8))
    (src / "readme.txt").write_text("not an image")
    js, ann = tmp_path / "f.json", tmp_path / "ann"
    res = run(["detect", str(src), "--json", str(js), "--annotate", str(ann)])
    assert res.exit_code == 0, res.output
    err_lines = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(err_lines) == 1 and "b_corrupt.jpg" in err_lines[0]
    assert any(line.startswith("no face:") and "d_blank.png" in line for line in res.output.splitlines())
    records = {r["source"].split("/")[-1]: r for r in json.loads(js.read_text())}
    assert set(records) == {"a_astronaut.png", "b_corrupt.jpg", "c_group.jpg", "d_blank.png"}
    assert "error" in records["b_corrupt.jpg"]
    assert len(records["a_astronaut.png"]["faces"]) == 1
    assert len(records["c_group.jpg"]["faces"]) == 5
    assert records["d_blank.png"]["faces"] == []
    assert sorted(p.name for p in ann.iterdir()) == ["a_astronaut.png", "c_group.png", "d_blank.png"]
    drawn = cv2.imread(str(ann / "a_astronaut.png"))
    original = cv2.imread(str(astronaut_path))
    diff = np.abs(drawn.astype(int) - original.astype(int)).sum(axis=2) > 0
    ys, xs = np.nonzero(diff)
    assert 150 < xs.mean() < 300 and 50 < ys.mean() < 200  # drawn around the face only
    strict = run(["detect", str(src), "--strict", "--largest"])
    assert strict.exit_code == 1


def test_largest_min_size_and_opencv_box_default(tmp_path, group_path):
    out = tmp_path / "crops"
    res = run(["detect", str(group_path), "--largest", "--save-crops", str(out), "--json", str(tmp_path / "l.json")])
    assert res.exit_code == 0
    assert len(list(out.glob("*.png"))) == 1
    res = run(["detect", str(group_path), "--min-size", "80", "--json", str(tmp_path / "m.json")])
    faces = json.loads((tmp_path / "m.json").read_text())[0]["faces"]
    assert 1 <= len(faces) < 5 and all(min(f["box"][2] - f["box"][0], f["box"][3] - f["box"][1]) >= 80 for f in faces)
    out2 = tmp_path / "cv"
    res = run(["detect", str(group_path), "--detector", "opencv", "--save-crops", str(out2)])
    assert res.exit_code == 0 and len(list(out2.glob("*.png"))) >= 5  # box crop chosen
    res = CliRunner().invoke(cli, ["detect", str(group_path), "--detector", "opencv", "--crop", "landmark",
                                   "--save-crops", str(out2)])
    assert res.exit_code != 0 and "needs landmarks" in res.output


def test_json_to_stdout_and_detector_options(tmp_path, astronaut_path):
    res = CliRunner().invoke(cli, ["detect", str(astronaut_path), "--json", "-", "-D", "landmarks=5",
                                   "-D", "upsample=0"])
    assert res.exit_code == 0
    start = res.stdout.index("[")
    records = json.loads(res.stdout[start:])
    assert len(records[0]["faces"][0]["landmarks"]) == 5
    bad = CliRunner().invoke(cli, ["detect", str(astronaut_path), "-D", "upsample"])
    assert bad.exit_code != 0 and "KEY=VALUE" in bad.output
    unknown = CliRunner().invoke(cli, ["detect", str(astronaut_path), "--detector", "dlb"])
    assert unknown.exit_code != 0 and "dlib" in unknown.output


def test_video_source_decoded_and_written(tmp_path, astronaut):
    video = tmp_path / "clip.avi"
    small = cv2.resize(astronaut, (320, 320))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 320))
    assert writer.isOpened()
    for i in range(6):
        frame = np.roll(small, 4 * i, axis=1) if i != 3 else np.full_like(small, 80)
        writer.write(frame)
    writer.release()
    js, ann, crops = tmp_path / "v.json", tmp_path / "ann", tmp_path / "crops"
    res = run(["detect", str(video), "--json", str(js), "--annotate", str(ann), "--save-crops", str(crops),
               "--every", "1"])
    assert res.exit_code == 0, res.output
    records = json.loads(js.read_text())
    assert [r["frame"] for r in records] == list(range(6))
    assert [len(r["faces"]) for r in records] == [1, 1, 1, 0, 1, 1]
    xs = [r["faces"][0]["landmarks"][30][0] for r in records if r["faces"]]
    assert xs == sorted(xs) and xs[-1] - xs[0] > 12  # the face moves right by 4 px a frame
    assert len(list(crops.glob("clip_f*_face0.png"))) == 5
    cap = cv2.VideoCapture(str(ann / "clip.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 6
    res = run(["detect", str(video), "--every", "2", "--max-frames", "2", "--json", str(js)])
    assert [r["frame"] for r in json.loads(js.read_text())] == [0, 2]


def test_missing_source_is_one_line_error(tmp_path):
    res = CliRunner().invoke(cli, ["detect", str(tmp_path / "nothing.png")])
    assert res.exit_code != 0 and "nothing.png" in res.output


@pytest.mark.parametrize("name", ["corrupt.mp4"])
def test_unreadable_video_reported(tmp_path, astronaut_path, name):
    (tmp_path / name).write_bytes(b"\x00" * 1000)
    shutil.copy(astronaut_path, tmp_path / "ok.png")
    res = run(["detect", str(tmp_path), "--json", str(tmp_path / "o.json")])
    assert res.exit_code == 0
    assert any(line.startswith("error:") and name in line for line in res.output.splitlines())
    records = json.loads((tmp_path / "o.json").read_text())
    assert [len(r["faces"]) for r in records] == [0, 1]


def test_several_sources_like_run(tmp_path, astronaut_path):
    """``fertk detect *.png other/`` (what a shell glob expands to): every source, each file
    once, and annotations of two files with the same name both kept."""
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(astronaut_path, tmp_path / folder / "x.png")
    shutil.copy(astronaut_path, tmp_path / "y.png")
    js, ann = tmp_path / "o.json", tmp_path / "ann"
    res = run(["detect", str(tmp_path / "a" / "x.png"), str(tmp_path / "b"), str(tmp_path / "y.png"),
               str(tmp_path / "y.png"), "--detector", "opencv", "--json", str(js), "--annotate", str(ann)])
    assert res.exit_code == 0, res.output
    sources = [r["source"] for r in json.loads(js.read_text())]
    assert sources == [str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "x.png"), str(tmp_path / "y.png")]
    assert sorted(p.name for p in ann.iterdir()) == ["a__x.png", "b__x.png", "y.png"]
    assert "3 files" in res.output
