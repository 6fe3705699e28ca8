"""Video and image sources: real files written, decoded, strided, broken; sharding."""

from __future__ import annotations

import numpy as np
import pytest

from fertk.errors import FertkError
from fertk.io.video import DecodeStats, VideoWriter, expand_sources, iter_frames, parse_shard, shard

from .conftest import make_frames


def test_written_video_decodes_back(tmp_path):
    frames = make_frames(10)
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, fps=10) as w:
        for f in frames:
            w.write(f)
    stats = DecodeStats()
    got = list(iter_frames(str(path), stats=stats))
    assert [f.index for f in got] == list(range(10))
    assert got[3].time == pytest.approx(0.3)
    assert stats.decoded == 10 and stats.skipped == 0 and stats.size == (320, 240)
    # lossy codec, but the content is the same picture
    assert np.abs(got[5].image.astype(int) - frames[5].astype(int)).mean() < 6
    strided = list(iter_frames(str(path), stride=3))
    assert [f.index for f in strided] == [0, 3, 6, 9]


def test_zero_length_and_corrupt_videos_name_the_file(tmp_path, media):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(FertkError, match="empty.mp4"):
        list(iter_frames(str(empty)))
    with pytest.raises(FertkError, match="broken.mp4"):
        list(iter_frames(str(media["junk"])))
    # a real container cut in half: no index, nothing decodable
    data = media["one"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(FertkError, match="cut.mp4"):
        list(iter_frames(str(cut)))


def test_early_close_stops_the_decoder(media):
    import threading

    before = set(threading.enumerate())
    stats = DecodeStats()
    gen = iter_frames(str(media["one"]), queue_size=2, stats=stats)
    first = next(gen)
    decoders = [t for t in set(threading.enumerate()) - before if t.name.startswith("fertk-decode-")]
    assert len(decoders) == 1 and decoders[0].is_alive()
    gen.close()
    assert first.index == 0
    assert not decoders[0].is_alive()  # closed and joined, not left blocked on the full queue
    assert stats.decoded < 24  # stopped early: the 24-frame video was not decoded to the end


def test_folders_globs_and_stills(tmp_path, media):
    import cv2

    folder = tmp_path / "mixed"
    folder.mkdir()
    for k, f in enumerate(make_frames(3)):
        cv2.imwrite(str(folder / f"img{k}.png"), f)
    (folder / "bad.jpg").write_bytes(b"not an image")
    (folder / "clip.mp4").write_bytes(media["one"].read_bytes())
    items = expand_sources([str(folder)])
    kinds = sorted(i.kind for i in items)
    assert kinds == ["images", "video"]
    group = next(i for i in items if i.kind == "images")
    assert len(group.paths) == 4
    stats = DecodeStats()
    stills = list(iter_frames(group, stats=stats))
    assert len(stills) == 3 and stats.skipped == 1 and "bad.jpg" in stats.unreadable[0]
    assert all(f.index == 0 and f.time is None for f in stills)  # unrelated stills
    seq = expand_sources([str(folder / "img*.png")], image_sequence=True)
    assert len(seq) == 1 and seq[0].sequence
    assert [f.index for f in iter_frames(seq[0], fps=10)] == [0, 1, 2]
    with pytest.raises(FertkError, match="nothing_here"):
        expand_sources([str(tmp_path / "nothing_here")])
    assert expand_sources(["0"])[0].kind == "webcam"


def test_shards_are_disjoint_and_cover_everything(tmp_path):
    for k in range(7):
        (tmp_path / f"v{k}.mp4").write_bytes(b"x")
    items = expand_sources([str(tmp_path)])
    parts = [shard(items, f"{i}/3") for i in range(3)]
    names = [sorted(it.name for it in p) for p in parts]
    flat = sorted(n for p in names for n in p)
    assert flat == sorted(it.name for it in items)
    assert all(2 <= len(p) <= 3 for p in names)
    # deterministic whatever the order the sources come in
    again = shard(list(reversed(items)), "1/3")
    assert sorted(it.name for it in again) == names[1]
    with pytest.raises(FertkError, match="--shard"):
        parse_shard("3/3")
    with pytest.raises(FertkError, match="--shard"):
        parse_shard("a/b")
