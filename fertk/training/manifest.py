"""Run manifests: configs, library versions, split files (with hashes), data hash, command."""

from __future__ import annotations

import datetime as _dt
import platform
import sys
from pathlib import Path
from typing import Any


def versions() -> dict[str, str]:
    """Versions of Python, fertk, the main libraries and the installed fertk plugins."""
    import importlib.metadata as md

    from fertk import __version__

    out = {"python": platform.python_version(), "fertk": __version__,
           "platform": platform.platform()}
    for dist in ("torch", "torchvision", "numpy", "timm", "scipy", "opencv-python", "safetensors"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    try:
        from fertk.plugins import plugin_infos

        for info in plugin_infos(include_builtins=False):
            out[f"plugin:{info.name}"] = info.version or "?"
    except Exception:  # noqa: BLE001 - a manifest must not fail because of a broken plugin
        pass
    return out


def build_manifest(configs: dict[str, Any], data_hash: str, split_files: list[Path],
                   argv: list[str] | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    from fertk.checkpoint import sha256_file

    splits = [{"path": str(Path(p).resolve()), "sha256": sha256_file(p) if Path(p).exists() else None}
              for p in split_files]
    out = {
        "format": "fertk-manifest",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": list(argv if argv is not None else sys.argv),
        "versions": versions(),
        "data_hash": data_hash,
        "split_files": splits,
        "configs": configs,
    }
    out.update(extra or {})
    return out
