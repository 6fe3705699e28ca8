"""The weight registry: bundled entry, user cache listing, plugin hook, import, mismatches."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

from fertk import hookimpl
from fertk.checkpoint import load_checkpoint, meta_path, save_checkpoint, sha256_file
from fertk.cli import cli, main
from fertk.errors import FertkError
from fertk.weights import ASSETS_DIR, BUNDLED, DEFAULT_WEIGHTS, user_weights_dir


def _save_tiny(base, make_meta, **meta_kw):
    import fertk

    torch.manual_seed(1)
    net = fertk.create("backbones", "tinynet", num_classes=3, width=4)
    return save_checkpoint(base, {"backbone": net.state_dict()}, make_meta(**meta_kw))


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FERTK_CACHE_DIR", str(tmp_path / "c"))
    assert user_weights_dir() == tmp_path / "c" / "weights"
    monkeypatch.delenv("FERTK_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert user_weights_dir() == tmp_path / "x" / "fertk" / "weights"


def test_bundled_entry_metadata(fresh_plugins, cache_dir):
    m = fresh_plugins.get_registry("weights").get("minixception-fer2013").metadata
    assert m["origin"] == "bundled" and m["backbone"] == "minixception"
    assert m["classes"] == ["anger", "disgust", "fear", "happy", "sadness", "surprise", "neutral"]
    assert m["crop"] == {"name": "box", "options": {"margin": 0.2, "shift": -0.12}}
    assert m["licence"] == "MIT" and "fer" in m["source"]
    spec = m["input_spec"]
    assert spec["input_size"] == [64, 64] and spec["in_chans"] == 1 and spec["crop_size"] == 120
    assert spec["mean"] == [0.5] and spec["std"] == [0.5]  # (x/255 - 0.5) / 0.5 == x/255*2 - 1
    assert m["sha256"] == BUNDLED["minixception-fer2013"][1]
    assert sha256_file(ASSETS_DIR / "minixception_fer2013.safetensors") == m["sha256"]
    meta = json.loads((ASSETS_DIR / "minixception_fer2013.json").read_text())
    assert meta["train"]["original_labels"] == ["angry", "disgust", "fear", "happy", "sad",
                                                "surprise", "neutral"]
    assert "MIT License" in meta["licence_text"] and "Justin Shenk" in meta["licence_text"]


def test_listing_imports_nothing_heavy(tmp_path):
    code = (
        "import sys; from fertk.cli import main; main(['weights', 'list', '--json']);"
        "heavy = [m for m in ('torch', 'cv2', 'dlib', 'timm', 'onnxruntime', 'safetensors')"
        " if m in sys.modules]; print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"FERTK_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    assert DEFAULT_WEIGHTS in out.stdout


def test_cached_checkpoints_are_listed(tiny_plugins, make_meta):
    _save_tiny(user_weights_dir() / "my-ckplus-fold1", make_meta)
    (user_weights_dir() / "orphan.json").write_text("{}")  # no tensors: not listed
    (user_weights_dir() / "broken.json").write_text("{oops")
    (user_weights_dir() / "broken.safetensors").write_bytes(b"x")
    tiny_plugins.reload()
    registry = tiny_plugins.get_registry("weights")
    assert "my-ckplus-fold1" in registry
    assert "orphan" not in registry and "broken" not in registry
    m = registry.get("my-ckplus-fold1").metadata
    assert m["origin"] == "cache" and m["backbone"] == "tinynet" and m["temporal"] is None
    ckpt = load_checkpoint("my-ckplus-fold1")
    assert ckpt.name == "my-ckplus-fold1" and ckpt.classes == ["anger", "happy", "neutral"]
    result = CliRunner().invoke(cli, ["weights", "list", "--json"])
    assert result.exit_code == 0, result.output
    names = {d["name"] for d in json.loads(result.output)}
    assert {"my-ckplus-fold1", DEFAULT_WEIGHTS} <= names


def test_plugin_weights_and_registry_mismatches(tiny_plugins, tmp_path, make_meta):
    path = _save_tiny(tmp_path / "acme", make_meta)
    good = sha256_file(path)
    entries = {
        "acme-tiny": {"sha256": good, "classes": ["anger", "happy", "neutral"], "backbone": "tinynet"},
        "acme-badsum": {"sha256": "0" * 64},
        "acme-classes": {"classes": ["happy", "sadness", "neutral"]},
        "acme-backbone": {"backbone": "compact"},
    }

    class WeightsPlugin:
        @hookimpl
        def register_weights(self, register):
            for name, meta in entries.items():
                register(name, lambda: str(tmp_path / "acme"), description="plugin", **meta)

    tiny_plugins.register_plugin(WeightsPlugin(), name="acme")
    assert load_checkpoint("acme-tiny").name == "acme-tiny"
    with pytest.raises(FertkError, match="acme-badsum.*checksum mismatch"):
        load_checkpoint("acme-badsum")
    with pytest.raises(FertkError, match="acme-classes.*class-set mismatch"):
        load_checkpoint("acme-classes")
    with pytest.raises(FertkError, match="acme-backbone.*backbone mismatch.*'tinynet'.*'compact'"):
        load_checkpoint("acme-backbone")


def test_bundled_asset_tampering_is_detected(fresh_plugins, cache_dir, tmp_path, monkeypatch):
    import fertk.weights as weights

    fake_assets = tmp_path / "assets"
    shutil.copytree(ASSETS_DIR, fake_assets)
    sf = fake_assets / "minixception_fer2013.safetensors"
    data = bytearray(sf.read_bytes())
    data[-5] ^= 0x01
    sf.write_bytes(bytes(data))
    # the JSON is rewritten to match, but the registry pins the checksum in code
    meta = json.loads(meta_path(sf).read_text())
    meta["sha256"] = sha256_file(sf)
    meta_path(sf).write_text(json.dumps(meta))
    monkeypatch.setattr(weights, "ASSETS_DIR", fake_assets)
    with pytest.raises(FertkError, match="checksum mismatch: registered sha256"):
        load_checkpoint("minixception-fer2013")


def test_cli_import_info_and_errors(tiny_plugins, tmp_path, make_meta, capsys):
    src = _save_tiny(tmp_path / "out" / "best", make_meta)
    runner = CliRunner()
    result = runner.invoke(cli, ["weights", "import", str(src), "--name", "ck-tiny"])
    assert result.exit_code == 0, result.output
    assert (user_weights_dir() / "ck-tiny.safetensors").read_bytes() == src.read_bytes()
    assert "ck-tiny" in tiny_plugins.get_registry("weights")
    info = runner.invoke(cli, ["weights", "info", "ck-tiny", "--json"])
    assert info.exit_code == 0, info.output
    data = json.loads(info.output)
    assert data["name"] == "ck-tiny" and data["verified"] and data["sha256"] == sha256_file(src)
    assert data["classes"] == ["anger", "happy", "neutral"]
    # importing again needs --force; a bundled name is refused
    again = runner.invoke(cli, ["weights", "import", str(src), "--name", "ck-tiny"])
    assert again.exit_code != 0 and "--force" in again.output
    assert runner.invoke(cli, ["weights", "import", str(src), "--name", "ck-tiny", "--force"]).exit_code == 0
    taken = runner.invoke(cli, ["weights", "import", str(src), "--name", DEFAULT_WEIGHTS])
    assert taken.exit_code != 0 and "taken by bundled" in taken.output
    # a checkpoint whose tensors do not fit its recorded backbone is refused before copying
    bad = _save_tiny(tmp_path / "bad", make_meta, backbone={"name": "tinynet", "options": {"width": 5}})
    code = main(["weights", "import", str(bad)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "backbone mismatch" in err[0]
    assert not (user_weights_dir() / "bad.safetensors").exists()
    # a corrupt file: one-line checksum error
    data = bytearray(src.read_bytes())
    data[-2] ^= 0xFF
    src.write_bytes(bytes(data))
    code = main(["weights", "import", str(src), "--name", "other"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "checksum mismatch" in err[0]


def test_weights_option_accepts_names_and_paths(tiny_plugins, tmp_path, make_meta):
    import click

    from fertk.commands.weights import weights_option

    @click.command()
    @weights_option("--weights", default=DEFAULT_WEIGHTS)
    def use(weights):
        click.echo(f"got {weights}")

    runner = CliRunner()
    assert f"got {DEFAULT_WEIGHTS}" in runner.invoke(use, []).output
    path = _save_tiny(tmp_path / "w", make_meta)
    assert f"got {path}" in runner.invoke(use, ["--weights", str(path)]).output
    bad = runner.invoke(use, ["--weights", "minixception-fer"])
    assert bad.exit_code == 2 and "Did you mean 'minixception-fer2013'" in bad.output
    missing = runner.invoke(use, ["--weights", str(tmp_path / "nope.safetensors")])
    assert missing.exit_code == 2 and "checkpoint not found" in missing.output


def test_default_weights_follow_the_rule_on_the_bundled_metadata():
    """DEFAULT_WEIGHTS is what choose_default picks from the bundled weights' measured metrics."""
    from fertk.weights import DEFAULT_WEIGHTS, bundled_metadata, choose_default

    assert DEFAULT_WEIGHTS == choose_default(bundled_metadata())


def test_choose_default_rule():
    from fertk.weights import DEFAULT_BUDGET_MS, REFERENCE_WEIGHTS, choose_default

    def m(acc, ms):
        return {"metrics": {"PrivateTest": {"accuracy": acc}}, "cost": {"cpu_ms_batch1_2cores": ms}}

    ref = {REFERENCE_WEIGHTS: m(0.60, 2.0)}
    assert choose_default(ref) == REFERENCE_WEIGHTS
    assert choose_default({**ref, "a": m(0.59, 1.0)}) == REFERENCE_WEIGHTS  # must beat the reference
    assert choose_default({**ref, "a": m(0.66, 3.0), "b": m(0.70, 8.0)}) == "b"  # more accurate
    assert choose_default({**ref, "a": m(0.698, 3.0), "b": m(0.70, 8.0)}) == "a"  # as accurate, cheaper
    assert choose_default({**ref, "slow": m(0.80, DEFAULT_BUDGET_MS + 1)}) == REFERENCE_WEIGHTS


def test_choose_default_a_ferplus_model_takes_over_only_when_as_good_on_fer2013():
    """FER2013 PrivateTest picks the default among the models that beat the reference; another
    model takes its place when it is as accurate there and better on FER+ Test (the ten
    annotators' labels on the same faces). A FER+ model is read from metrics, a FER2013 one
    from cross_metrics."""
    from fertk.weights import REFERENCE_WEIGHTS, choose_default, measured

    def fer(acc, plus, ms=3.0):
        out = {"train": {"dataset": "fer2013"}, "metrics": {"PrivateTest": {"accuracy": acc}},
               "cost": {"cpu_ms_batch1_2cores": ms}}
        if plus is not None:
            out["cross_metrics"] = {"ferplus": {"PrivateTest": {"accuracy": plus + 0.05,
                                                                "shared": {"accuracy": plus}}}}
        return out

    def ferplus(acc, plus, ms=3.0):
        return {"train": {"dataset": "ferplus"}, "cost": {"cpu_ms_batch1_2cores": ms},
                "metrics": {"PrivateTest": {"accuracy": plus - 0.01, "shared": {"accuracy": plus}}},
                "cross_metrics": {"fer2013": {"PrivateTest": {"accuracy": acc}}}}

    ref = {REFERENCE_WEIGHTS: fer(0.59, 0.67, 2.0)}
    assert measured(ferplus(0.6, 0.8), "fer2013")["accuracy"] == 0.6
    assert measured(fer(0.6, None), "ferplus") == {}
    base = {**ref, "f": fer(0.65, 0.69), "tiny": fer(0.625, 0.691, 0.8)}
    assert choose_default(base) == "f"  # FER2013 first: tiny's FER+ tie does not make it the default
    assert choose_default({**base, "p": ferplus(0.567, 0.844)}) == "f"  # worse on FER2013's labels
    assert choose_default({**base, "p": ferplus(0.648, 0.84)}) == "p"  # as good there, better on FER+
    assert choose_default({**base, "p": ferplus(0.66, 0.693)}) == "p"  # more accurate on FER2013
    assert choose_default({**base, "p": ferplus(0.66, 0.9, ms=11.0)}) == "f"  # over the budget
    assert choose_default({**base, "p": ferplus(0.65, 0.84, 4.0), "q": ferplus(0.65, 0.838, 1.0)}) == "q"
    assert choose_default({**ref, "unmeasured": {}}) == REFERENCE_WEIGHTS


def test_an_imported_models_described_data_set_is_its_own():
    """An imported model's train.dataset is a description ("FER2013 (Goodfellow et al. ...)"):
    its metrics are still its FER2013 ones, so the reference the rule compares against is real."""
    from fertk.weights import REFERENCE_WEIGHTS, bundled_metadata, choose_default, measured

    meta = {"train": {"dataset": "FER2013 (Goodfellow et al. 2013, ICML challenge)"},
            "metrics": {"PrivateTest": {"accuracy": 0.59}}, "cost": {"cpu_ms_batch1_2cores": 2.0}}
    assert measured(meta, "fer2013") == {"accuracy": 0.59}
    assert measured(bundled_metadata()[REFERENCE_WEIGHTS], "fer2013")["accuracy"] > 0.5
    worse = {"train": {"dataset": "fer2013"}, "metrics": {"PrivateTest": {"accuracy": 0.55}},
             "cost": {"cpu_ms_batch1_2cores": 1.0}}
    assert choose_default({REFERENCE_WEIGHTS: meta, "worse": worse}) == REFERENCE_WEIGHTS
