"""CLI commands ``fertk weights list|info|import`` and the ``--weights NAME|PATH`` option type.

``WeightsType``/:func:`weights_option` are for every command that uses a model: the value
is a registered weight name (completed in the shell) or a checkpoint path, checked when the
option is parsed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import click

from fertk.clitools import console, print_json, print_table
from fertk.errors import FertkError
from fertk.hookspecs import hookimpl


class WeightsType(click.ParamType):
    """A registered weight name or a checkpoint path (``base``, ``.safetensors`` or ``.json``)."""

    name = "weights"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from fertk.checkpoint import meta_path, weights_path
        from fertk.plugins import get_registry

        text = os.fspath(value)
        if weights_path(text).is_file() or meta_path(text).is_file():
            return text
        registry = get_registry("weights")
        if text in registry:
            return text
        if os.sep in text or text.endswith((".safetensors", ".json")):
            self.fail(f"{text}: checkpoint not found", param, ctx)
        try:
            registry.get(text)
        except FertkError as exc:
            self.fail(f"{exc} (or give a checkpoint path)", param, ctx)
        return text

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        from fertk.plugins import get_registry

        items = [CompletionItem(s.name, help=s.description) for s in get_registry("weights")
                 if s.name.startswith(incomplete)]
        return items + [CompletionItem(incomplete, type="file")]

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "NAME|PATH"


def weights_option(*decls: str, **kwargs: Any):
    """``@weights_option("--weights", default=DEFAULT_WEIGHTS)`` for commands that use a model."""
    kwargs.setdefault("help", "Registered weight name (fertk weights list) or checkpoint path.")
    kwargs.setdefault("show_default", True)
    return click.option(*(decls or ("--weights",)), type=WeightsType(), **kwargs)


@click.group("weights")
def weights_group() -> None:
    """Pretrained weights: list, inspect and import checkpoints."""


def _classes_text(classes: Any) -> str:
    return ", ".join(classes) if isinstance(classes, list) else ""


def _crop_text(crop: Any) -> str:
    if not isinstance(crop, dict):
        return "" if crop is None else str(crop)
    opts = ", ".join(f"{k}={v}" for k, v in (crop.get("options") or {}).items())
    return f"{crop.get('name')}({opts})" if opts else str(crop.get("name"))


def _accuracy(m: Any) -> dict[str, Any]:
    """A weight entry's accuracy summary (registered, or derived from its metadata)."""
    from fertk.weights.accuracy import accuracy_summary

    return m.get("accuracy") or accuracy_summary(m)


@weights_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_weights(as_json: bool) -> None:
    """List registered weights: bundled, in the user cache, and from plugins.

    "measured by fertk" is the accuracy fertk measured, with the data set and split it was
    measured on; "reported" the figure the weights' authors published (or fertk train's own,
    for weights fertk trained). `fertk weights info NAME` tells more.
    """
    from fertk.plugins import get_registry
    from fertk.weights import user_weights_dir
    from fertk.weights.accuracy import measured_text, reported_text

    specs = list(get_registry("weights"))
    if as_json:
        print_json([{**s.as_dict(), "accuracy": _accuracy(s.metadata)} for s in specs])
        return
    rows = []
    for s in specs:
        m = s.metadata
        size = (m.get("input_spec") or {}).get("input_size")
        acc = _accuracy(m)
        rows.append([
            s.name,
            m.get("origin") or s.plugin,
            m.get("backbone") or "",
            m.get("temporal") or "",
            len(m.get("classes") or []) or "",
            _crop_text(m.get("crop")),
            "x".join(str(v) for v in size) if size else "",
            measured_text(acc),
            reported_text(acc),
        ])
    cols = ["name", "origin", "backbone", "temporal", "classes", "crop", "input",
            "measured by fertk", "reported"]
    title = f"weights ({len(rows)}; user cache: {user_weights_dir()})"
    cols, rows = _fit(cols, rows, console().width)
    print_table(title, cols, rows, no_wrap=("name", "origin", "backbone", "temporal"))
    if "crop" not in cols:
        click.echo("(narrow terminal: all details in `fertk weights info NAME`)")


#: Detail columns of ``weights list``, dropped in this order when the table is too wide; the
#: accuracy columns are never dropped: they wrap between words instead.
_DETAIL = (("crop", "input"), ("classes",), ("origin",), ("temporal",))


def _fit(cols: list[str], rows: list[list[Any]], width: int
         ) -> tuple[list[str], list[list[Any]]]:
    """Drop empty columns, then the detail columns (:data:`_DETAIL`) until the table fits
    ``width`` with every cell on one line; where it cannot, the accuracy columns wrap between
    words, so that names are never folded and numbers never cut."""
    keep = [k for k, c in enumerate(cols) if c == "name" or any(r[k] not in ("", None) for r in rows)]
    wraps = ("measured by fertk", "reported", "crop")

    def need(ks, wrap):
        def cell(k, v):
            text = str(v)
            return max(map(len, text.split() or [""])) if wrap and cols[k] in wraps else len(text)
        return sum(max([cell(k, cols[k])] + [cell(k, r[k]) for r in rows]) + 3 for k in ks) + 1

    for detail in _DETAIL:
        if need(keep, wrap=not any(cols[k] in detail for k in keep)) > width:
            keep = [k for k in keep if cols[k] not in detail]
    return [cols[k] for k in keep], [[r[k] for k in keep] for r in rows]


def _accuracy_rows(meta: dict[str, Any]) -> list[list[str]]:
    from fertk.weights.accuracy import accuracy_summary, measured_text, pct

    acc = accuracy_summary(meta)
    m, r = acc["measured"], acc["reported"]
    rows = []
    if m:
        extra = ", ".join(f"{label} {pct(m[k])}" for k, label in (("uar", "UAR"), ("macro_f1", "macro-F1"))
                          if k in m)
        extra += f", n = {m['n']}" if "n" in m else ""
        how = ("benchmarks/bench_fer2013.py on the weights as shipped" if m["by"] == "fertk benchmark"
               else "fertk train, on its test part")
        rows.append(["accuracy (fertk)", f"{measured_text(acc)} ({extra.lstrip(', ')}{'; ' if extra else ''}"
                                         f"measured by {how})"])
    rows.append(["accuracy (reported)", (f"{r['text']} (as its authors reported it)" if r["by"] == "authors"
                                        else r["text"]) if r else "(none reported)"])
    return rows


@weights_group.command("info")
@click.argument("name", type=WeightsType())
@click.option("--json", "as_json", is_flag=True, help="Print the full metadata as JSON.")
@click.option("--no-verify", is_flag=True, help="Skip the checksum check.")
def info_weights(name: str, as_json: bool, no_verify: bool) -> None:
    """Show the metadata of weights NAME (or a checkpoint path) and verify its checksum."""
    from fertk.checkpoint import load_checkpoint, sha256_file

    ckpt = load_checkpoint(name, verify=not no_verify)
    meta = dict(ckpt.metadata)
    meta.pop("licence_text", None)
    n_tensors = sum(len(sd) for sd in ckpt.state_dicts.values())
    n_values = sum(int(t.numel()) for sd in ckpt.state_dicts.values() for t in sd.values())
    info = {
        "name": ckpt.name,
        "path": str(ckpt.path),
        "sha256": sha256_file(ckpt.path),
        "verified": not no_verify,
        "tensors": n_tensors,
        "values": n_values,
        **{k: v for k, v in meta.items() if k != "sha256"},
        "accuracy": _accuracy(meta),
    }
    if as_json:
        print_json(info)
        return
    spec = meta["input_spec"]
    rows = [
        ["name", ckpt.name or "(path)"],
        ["path", str(ckpt.path)],
        ["sha256", info["sha256"] + ("  (verified)" if not no_verify else "  (not verified)")],
        ["classes", _classes_text(meta["classes"])],
        ["backbone", f"{meta['backbone']['name']} {meta['backbone']['options'] or ''}".strip()],
        ["temporal", _crop_text(meta.get("temporal")) or "none"],
        ["crop", _crop_text(meta.get("crop")) or "(pipeline default)"],
        ["detector", meta.get("detector") or "(pipeline default)"],
        ["input", f"{spec['input_size'][0]}x{spec['input_size'][1]}x{spec['in_chans']}, "
                  f"central {spec['crop_size']} of 120, mean {spec['mean']} std {spec['std']}"],
        ["illumination", meta.get("illumination") or "none"],
        *_accuracy_rows(meta),
        ["tensors", f"{n_tensors} ({n_values:,} values)"],
        ["licence", meta.get("licence") or "(not stated)"],
        ["source", meta.get("source") or ""],
        ["fertk version", meta.get("fertk_version", "")],
    ]
    if meta.get("train"):
        rows.append(["train", ", ".join(f"{k}={v}" for k, v in meta["train"].items())])
    print_table(f"weights {ckpt.label}", ["field", "value"], rows)


@weights_group.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", help="Name in the user cache (default: the file's stem).")
@click.option("--force", is_flag=True, help="Replace cached weights of the same name.")
def import_weights(path: Path, name: str | None, force: bool) -> None:
    """Verify the checkpoint at PATH and copy it into the user weight cache.

    PATH is ``NAME.safetensors`` or ``NAME.json`` (the other file must sit beside it). The
    checksum, the metadata and the tensors are checked (the model is built and the weights
    loaded) before anything is copied.
    """
    from fertk import plugins
    from fertk.checkpoint import (
        build_from_checkpoint,
        load_checkpoint,
        meta_path,
        not_a_checkpoint,
        split_base,
        weights_path,
    )
    from fertk.fsutil import atomic_path
    from fertk.weights import user_weights_dir, valid_weight_name

    base = split_base(path)
    if path.is_file() and path.suffix not in (".safetensors", ".json"):
        raise not_a_checkpoint(path)  # a pickle (.pt) is named as refused, with the conversion
    if not weights_path(base).is_file() and not meta_path(base).is_file():
        raise FertkError(f"{path}: checkpoint not found (need {weights_path(base).name} and "
                         f"{meta_path(base).name})")
    ckpt = load_checkpoint(base, verify=True)
    build_from_checkpoint(ckpt)  # the tensors must fit the recorded components
    name = name or base.name
    if not valid_weight_name(name):
        raise FertkError(f"--name '{name}': use letters, digits and . _ + - only")
    registry = plugins.get_registry("weights")
    dest_dir = user_weights_dir()
    dest = dest_dir / name
    if name in registry:
        origin = registry.get(name).metadata.get("origin")
        if origin != "cache":
            raise FertkError(f"--name '{name}': taken by {origin or 'plugin'} weights; choose another")
        if not force:
            raise FertkError(f"weights '{name}' already exist in {dest_dir} (use --force to replace)")
    if dest_dir.resolve() == base.parent.resolve() and base.name == name:
        raise FertkError(f"{path}: already in the user cache as '{name}'")
    for src, dst in ((weights_path(base), weights_path(dest)), (meta_path(base), meta_path(dest))):
        with atomic_path(dst) as tmp:
            shutil.copyfile(src, tmp)
    plugins.default_context().changed()  # the next lookup sees the new entry
    load_checkpoint(name)  # re-verify the copy through the registry
    from fertk.weights.accuracy import dataset_label

    data = (ckpt.metadata.get("train") or {}).get("dataset")
    on = f", trained on {dataset_label(data)}" if data else ""
    click.echo(f"imported {ckpt.label} as '{name}'{on} ({weights_path(dest)}); "
               f"use --weights {name}")


@hookimpl
def register_commands(cli):
    cli.add_command(weights_group)
