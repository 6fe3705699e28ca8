"""Error advice that is right: each untrained backbone or head names its own recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from fertk.cli import cli
from fertk.errors import FertkError
from fertk.inference.model import resolve_model
from fertk.plugins import get_registry

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("backbone, recipe", [
    ("dtan", "examples/configs/ckplus_dtan.yaml"),
    ("timm:resnet18", "examples/configs/ckplus_resnet18.yaml"),
])
def test_untrained_backbone_names_its_own_recipe(fresh_plugins, backbone, recipe, tmp_path, monkeypatch):
    monkeypatch.setenv("FERTK_CACHE_DIR", str(tmp_path))
    with pytest.raises(FertkError) as err:
        resolve_model(backbone=backbone)
    text = str(err.value)
    assert f"backbone '{backbone}' has no trained weights" in text
    assert f"fertk train {recipe} --set data.root=DIR" in text
    assert "RUN/folds/standard/frame" in text and "\n" not in text


def test_gru_without_trained_head_names_the_gru_recipe(fresh_plugins, tmp_path, monkeypatch):
    monkeypatch.setenv("FERTK_CACHE_DIR", str(tmp_path))
    with pytest.raises(FertkError) as err:  # weights without a GRU head
        resolve_model(weights="minixception-fer2013", temporal="gru")
    text = str(err.value)
    assert "temporal head 'gru' has no trained weights" in text
    assert "fertk train examples/configs/fer2013_tiny_gru.yaml" in text
    assert "RUN/folds/standard/sequence" in text and "fer2013_compact" not in text
    result = CliRunner().invoke(cli, ["run", str(ROOT / "tests/data/astronaut.png"), "--temporal", "gru",
                                      "--weights", "minixception-fer2013", "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "fer2013_tiny_gru.yaml" in result.output
    assert "Traceback" not in result.output


def test_a_component_without_recipe_says_which_field_to_set(fresh_plugins, tmp_path, monkeypatch):
    monkeypatch.setenv("FERTK_CACHE_DIR", str(tmp_path))
    with pytest.raises(FertkError, match=r"a config with model.backbone: compact_bn \(examples/configs/\)"):
        resolve_model(backbone="compact_bn")


def test_every_registered_recipe_trains_its_component(fresh_plugins):
    for kind, field in (("backbones", "backbone"), ("temporal", "temporal")):
        for spec in get_registry(kind):
            recipe = spec.metadata.recipe
            if recipe is None:
                continue
            model = yaml.safe_load((ROOT / recipe).read_text())["model"]
            name = getattr(spec.metadata, "example", None) or spec.name
            assert model[field] == name, (spec.name, recipe)
