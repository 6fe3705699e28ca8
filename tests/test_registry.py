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
