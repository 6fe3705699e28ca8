"""Registry behaviour: lookup, duplicates, unknown names, prefix families, laziness."""

from __future__ import annotations

import sys

import pytest

from fertk.errors import FertkError
from fertk.registry import DuplicateComponentError, Registry, UnknownComponentError


def _factory(**kw):
    return ("built", kw)


def test_lookup_and_create():
    reg = Registry("backbones", "backbone")
    reg.register("compact", _factory, plugin="a", description="d")
    assert "compact" in reg and "other" not in reg
    assert reg.create("compact", num_classes=7) == ("built", {"num_classes": 7})
    assert reg.names() == ["compact"]


def test_duplicate_names_both_owners():
    reg = Registry("backbones", "backbone")
    reg.register("compact", _factory, plugin="first")
    with pytest.raises(DuplicateComponentError) as err:
        reg.register("compact", _factory, plugin="second")
    assert "'first'" in str(err.value) and "'second'" in str(err.value)
    # an alias that collides with a name is refused as well
    with pytest.raises(DuplicateComponentError):
        reg.register("other", _factory, plugin="third", aliases=["compact"])


def test_unknown_name_suggests_close_matches():
    reg = Registry("backbones", "backbone")
    for name in ("compact", "compact_tiny", "dtan"):
        reg.register(name, _factory, plugin="p")
    with pytest.raises(UnknownComponentError) as err:
        reg.get("compat")
    msg = str(err.value)
    assert msg.startswith("Unknown backbone 'compat'. Did you mean 'compact'")
    assert "Available: compact, compact_tiny, dtan" in msg
    assert isinstance(err.value, FertkError)


def test_prefix_family_passes_member():
    reg = Registry("backbones", "backbone")
    reg.register("timm", lambda member, **kw: (member, kw), plugin="p", prefix=True)
    assert reg.create("timm:resnet18", num_classes=3) == ("resnet18", {"num_classes": 3})
    assert reg.display_names() == ["timm:<name>"]
    with pytest.raises(UnknownComponentError):
        reg.get("timm")  # the family needs a member
    with pytest.raises(UnknownComponentError):
        reg.get("nope:resnet18")


def test_alias_resolves_to_spec():
    reg = Registry("temporal", "temporal head")
    reg.register("average", _factory, plugin="p", aliases=["avg"])
    assert reg.get("avg").name == "average"


def test_string_factory_imported_only_on_create(tmp_path, monkeypatch):
    (tmp_path / "lazy_mod_xyz.py").write_text("def build(**kw):\n    return 'lazy', kw\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("backbones", "backbone")
    reg.register("lazy", "lazy_mod_xyz:build", plugin="p")
    assert "lazy_mod_xyz" not in sys.modules
    assert reg.create("lazy", a=1) == ("lazy", {"a": 1})
    assert "lazy_mod_xyz" in sys.modules


def test_missing_module_is_a_user_error():
    reg = Registry("detectors", "detector")
    reg.register("ghost", "no_such_module_abc:build", plugin="ghostplug")
    with pytest.raises(FertkError, match="ghostplug.*no_such_module_abc"):
        reg.create("ghost")


def test_invalid_factory_refused():
    reg = Registry("detectors", "detector")
    with pytest.raises(ValueError):
        reg.register("bad", "not-a-dotted-path", plugin="p")
    with pytest.raises(ValueError):
        reg.register("", _factory, plugin="p")


# -- issue #15: typed metadata and the Protocol check --------------------------------------------
def _typed(kind: str) -> Registry:
    from fertk.contracts import CONTRACTS

    info, protocol = CONTRACTS[kind]
    return Registry(kind, kind.rstrip("s"), info=info, protocol=protocol)


def test_typed_metadata_reads_as_mapping_and_attributes():
    reg = _typed("temporal")
    spec = reg.register("avg", _factory, plugin="p", trainable=False, input_kind="probs", note="free")
    assert spec.metadata["trainable"] is False and spec.metadata.trainable is False
    assert spec.metadata.get("input_kind") == "probs"
    assert dict(spec.metadata) == {"trainable": False, "input_kind": "probs", "note": "free"}
    assert spec.as_dict()["note"] == "free"  # free-form extras are kept and listed
    bare = reg.register("bare", _factory, plugin="p")
    assert "trainable" not in bare.metadata and bare.metadata.get("trainable", True) is True
    assert bare.metadata.trainable is True and bare.metadata.input_kind == "probs"  # documented defaults
    det = _typed("detectors")
    assert det.register("boxes", _factory, plugin="p", landmarks=None).metadata.finds_landmarks is False
    assert det.register("dlibish", _factory, plugin="p", landmarks="dlib68").metadata.finds_landmarks
    assert det.register("unknown", _factory, plugin="p").metadata.finds_landmarks  # undeclared: assumed


@pytest.mark.parametrize("kind, metadata, match", [
    ("temporal", {"trainable": "yes"},
     r"^plugin 'p', temporal 'x': metadata field 'trainable' must be true or false, got 'yes' \(str\)$"),
    ("temporal", {"input_kind": "logits"}, r"field 'input_kind' must be one of 'probs', 'features'"),
    ("crops", {"needs_landmarks": 1}, r"crop 'x': metadata field 'needs_landmarks' must be true or false"),
    ("detectors", {"landmarks": True}, r"field 'landmarks' must be a landmark scheme name or null"),
    ("backbones", {"input_size": [96]}, r"field 'input_size' must be \[height, width\]"),
    ("datasets", {"options": "mode"}, r"field 'options' must be a list of strings"),
    ("temporal", {"trainble": True}, r"unknown metadata field 'trainble' \(did you mean 'trainable'\?\)"),
    ("crops", {"needs_landmark": True}, r"unknown metadata field 'needs_landmark' \(did you mean 'needs_landmarks'\?\)"),
])
def test_invalid_typed_metadata_is_one_line_naming_plugin_component_field(kind, metadata, match):
    from fertk.contracts import MetadataError

    reg = _typed(kind)
    with pytest.raises(MetadataError, match=match) as err:
        reg.register("x", _factory, plugin="p", **metadata)
    assert "\n" not in str(err.value) and isinstance(err.value, FertkError)
    assert "x" not in reg  # refused, not registered


def test_built_component_checked_against_its_protocol():
    class NoHead:
        input_size, in_chans, num_classes, feature_dim = (96, 96), 1, 7, 8

        def __call__(self, x):
            return x

        def forward_features(self, x):
            return x

    reg = _typed("backbones")
    reg.register("nohead", lambda **kw: NoHead(), plugin="mything")
    with pytest.raises(FertkError) as err:
        reg.create("nohead")
    assert str(err.value) == ("backbone 'nohead' (plugin 'mything') built a NoHead without "
                              "forward_head: see fertk.types.Backbone")
    det = _typed("detectors")
    det.register("nodetect", lambda **kw: object(), plugin="q")
    with pytest.raises(FertkError, match=r"^detector 'nodetect' \(plugin 'q'\) built a object without detect"):
        det.create("nodetect")
    aug = _typed("augmentations")
    aug.register("notcallable", lambda **kw: 3, plugin="q")
    with pytest.raises(FertkError, match=r"built a int without __call__: see fertk.types.Augmentation$"):
        aug.create("notcallable")
