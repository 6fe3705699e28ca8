"""Bad inputs of ``fertk train``, ``eval`` and ``compare`` (issue #24): one clear line, never
a traceback; nothing already done is lost; a rerun is not blocked by a failed start."""

from __future__ import annotations

import yaml

from fertk.cli import main


def _write(path, cfg):
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _error_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, err
    return lines[0]


# -- C4 --------------------------------------------------------------------------------------------
def test_train_out_under_a_file_is_one_line(synth_ck, tmp_path, capsys, make_config):
    root, cache, _ = synth_ck
    cfg = _write(tmp_path / "cfg.yaml", make_config(root, cache))
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    code = main(["train", cfg, "--out", str(blocker / "run")])
    line = _error_line(capsys.readouterr().err)
    assert code == 1 and line.startswith(f"Error: --out {blocker / 'run'}: cannot create")
    assert "is a file" in line and blocker.read_text() == "x"


# -- C5 --------------------------------------------------------------------------------------------
def test_compare_manifest_that_is_not_json_is_one_line(tmp_path, capsys):
    cases = {"text.json": "not json at all", "list.json": "[1, 2]",
             "noconfigs.json": '{"format": "fertk-compare-manifest"}', "binary.json": None}
    for name, text in cases.items():
        path = tmp_path / name
        if text is None:
            path.write_bytes(b"\xff\xfe\x00garbage")
        else:
            path.write_text(text)
        code = main(["compare", str(path), "--out", str(tmp_path / "cmp")])
        line = _error_line(capsys.readouterr().err)
        assert code == 1 and line.startswith(f"Error: {path}: "), line
        assert "manifest" in line, line
