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
    """List registered weights (bundled, in the user cache, from plugins) to choose a model:
    the default marked, accuracy on each data set measured, the temporal head's accuracy,
    parameters, CPU ms per face and end-to-end fps with its detector, where known.

    Accuracy is what fertk measured, on each data set's test split; "reported" is the figure
    the weights' authors published. At a narrow terminal the detail columns give way first;
    `fertk weights info NAME` tells everything about one model.
    """
    from fertk.plugins import get_registry
    from fertk.weights import DEFAULT_WEIGHTS, user_weights_dir
    from fertk.weights.card import card_of

    specs = list(get_registry("weights"))
    if as_json:
        print_json([{**s.as_dict(), "default": s.name == DEFAULT_WEIGHTS,
                     "accuracy": _accuracy(s.metadata), "card": card_of(s.metadata)}
                    for s in specs])
        return
    cols, rows, notes = choice_table([(s.name, s.metadata, s.plugin) for s in specs],
                                     DEFAULT_WEIGHTS)
    print_table(f"weights ({len(rows)}; user cache: {user_weights_dir()})", cols, rows,
                drop=LIST_DROP, right=(*LIST_NUMBERS, *(c for c in cols if c.endswith(" %"))),
                drop_empty=True)
    for note in notes:
        console().print(note, markup=False, highlight=False)


#: Columns of ``weights list`` left out, in this order, when the table does not fit.
LIST_DROP = ("origin", "backbone", "reported", "input", "fps (detector)", "params")
#: Its right-aligned columns (the accuracy columns are added per data set).
LIST_NUMBERS = ("params", "ms/face", "fps (detector)")


def choice_table(entries: list[tuple[str, Any, str]], default: str
                 ) -> tuple[list[str], list[list[str]], list[str]]:
    """``(columns, rows, notes)`` of ``weights list`` for ``(name, metadata, plugin)``
    entries: one accuracy column per data set any of them was measured on, the head's
    accuracy, cost, input, backbone, origin and the reported figure; the notes say what the
    columns are measured on and which model is the default."""
    from fertk.weights.accuracy import reported_text
    from fertk.weights.card import card_of, datasets, number, percent

    cards = {name: card_of(m) for name, m, _ in entries}
    sets = datasets(list(cards.values()))
    splits = {d: _common_split(cards.values(), d) for d in sets}
    heads = {c["head"]["head"] for c in cards.values() if c.get("head")}
    head_col = f"{next(iter(heads)).upper()} %" if len(heads) == 1 else "head %"
    cols = ["name", *[f"{d} %" for d in sets], head_col, "params", "ms/face", "fps (detector)",
            "input", "backbone", "origin", "reported"]
    rows = []
    for name, m, plugin in entries:
        c = cards[name]
        acc = c.get("accuracy") or {}
        cells = []
        for d in sets:
            a = acc.get(d)
            cells.append("" if a is None else percent(a["accuracy"]) + (
                f" ({a['split']})" if a["split"] != splits[d] else ""))
        head = c.get("head")
        head_cell = "" if not head else percent(head["accuracy"]) + (
            f" {head['head']}" if head_col == "head %" else "")
        fps = "" if c.get("fps") is None else number(c["fps"], "{:.0f}") + (
            f" ({c['fps_detector']})" if c.get("fps_detector") else "")
        size = c.get("input")
        rows.append([name + (" (default)" if name == default else ""), *cells, head_cell,
                     number(c.get("params"), "{:,.0f}"), number(c.get("ms_per_face"), "{:.2f}"),
                     fps, "x".join(map(str, size)) if size else "", m.get("backbone") or "",
                     m.get("origin") or plugin, reported_text(_accuracy(m))])
    measured = ", ".join(f"{d} {splits[d]}" for d in sets)
    notes = [f"default: {default} (used when no --weights are given)"]
    told = [f"accuracy %: measured by fertk on {measured}"] if measured else []
    if heads:
        told.append(f"{head_col}: the temporal head on sequences of the same test split (tracks "
                    "of its images for still-image data sets)")
    if any(c.get("ms_per_face") is not None for c in cards.values()):
        told.append("ms/face: CPU, batch 1, 2 cores")
    if any(c.get("fps") is not None for c in cards.values()):
        told.append("fps: fertk run end to end (decoding, the detector named, outputs)")
    if any(r[-1] for r in rows):
        told.append("reported: the figure the weights' authors (or fertk train) reported")
    if told:
        notes.append("; ".join(told))
    return cols, rows, notes


def _common_split(cards: Any, dataset: str) -> str:
    """The split most of ``cards`` were measured on for ``dataset`` (the column's header)."""
    splits = [c["accuracy"][dataset]["split"] for c in cards if dataset in (c.get("accuracy") or {})]
    return max(dict.fromkeys(splits), key=splits.count)


def _scores_text(a: dict[str, Any]) -> str:
    """``UAR 54.9 %, macro-F1 54.7 %, n = 3589`` of one measurement (what it has of them)."""
    from fertk.weights.accuracy import pct

    parts = [f"{label} {pct(a[k])}" for k, label in (("uar", "UAR"), ("macro_f1", "macro-F1"))
             if k in a]
    if "shared" in a:
        parts.append(f"{pct(a['shared'])} on the 7 classes every model knows")
    if "n" in a:
        parts.append(f"n = {a['n']}")
    return ", ".join(parts)


def _accuracy_rows(meta: dict[str, Any]) -> list[list[str]]:
    """The accuracy rows of ``weights info``: each data set measured (its own first), the
    temporal head's, and the reported figure."""
    from fertk.weights.accuracy import accuracy_summary, pct
    from fertk.weights.card import model_card

    card = model_card(meta)
    rows = []
    for dataset, a in card["accuracy"].items():
        how = ("fertk train, on its test part" if a["by"] == "fertk train" else
               "a fertk benchmark on the weights as shipped")
        extra = _scores_text(a)
        rows.append(["accuracy" if not rows else "",
                     f"{dataset} {a['split']} {pct(a['accuracy'])} ({extra}{'; ' if extra else ''}"
                     f"measured by {how})"])
    head = card["head"]
    if head:
        on = " on tracks made of its test split's images" if head.get("source") == "stills" else \
            " on its test split's sequences"
        extra = _scores_text(head)
        rows.append([f"{head['head']} head", f"{pct(head['accuracy'])}{on}"
                                             f"{f' ({extra})' if extra else ''} (fertk train)"])
    r = accuracy_summary(meta)["reported"]
    rows.append(["reported", (f"{r['text']} (as its authors reported it)" if r["by"] == "authors"
                                        else r["text"]) if r else "(none reported)"])
    return rows


def _trained_by(train: dict[str, Any]) -> list[str]:
    """How the weights were trained, one line per run (its command, epochs and minutes), from
    ``train.frame_run`` (and the runs it continued) and ``train.sequence_run``."""
    def line(run: Any, what: str) -> str | None:
        if not isinstance(run, dict) or not run.get("command"):
            return None
        epochs = run.get("epochs_run") or run.get("iterations")
        unit = "epochs" if run.get("epochs_run") else "iterations"
        minutes = (run.get("train_seconds") or 0) / 60
        detail = ", ".join(x for x in (f"{epochs} {unit}" if epochs else "",
                                       f"{minutes:.1f} min" if minutes else "") if x)
        return f"{what}: {run['command']}" + (f" ({detail})" if detail else "")

    frame = train.get("frame_run") if isinstance(train.get("frame_run"), dict) else {}
    runs = [(r, "frame model, first") for r in frame.get("continued_from") or []]
    runs += [(frame, "frame model, continued" if runs else "frame model"),
             (train.get("sequence_run"), "temporal head")]
    return [t for t in (line(r, what) for r, what in runs) if t]


@weights_group.command("info")
@click.argument("name", type=WeightsType())
@click.option("--json", "as_json", is_flag=True, help="Print the full metadata as JSON.")
@click.option("--full", is_flag=True, help="Print the full metadata (every training detail) "
                                           "after the summary.")
@click.option("--no-verify", is_flag=True, help="Skip the checksum check.")
def info_weights(name: str, as_json: bool, full: bool, no_verify: bool) -> None:
    """Summarise weights NAME (or a checkpoint path): what the model is, how accurate and how
    fast, what it expects, how it was trained; its checksum is verified. --full adds the whole
    metadata, --json prints it as JSON."""
    from fertk.checkpoint import load_checkpoint, sha256_file
    from fertk.weights import DEFAULT_WEIGHTS
    from fertk.weights.card import model_card, number

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
        "card": model_card(meta),
        "default": ckpt.name == DEFAULT_WEIGHTS,
    }
    if as_json:
        print_json(info)
        return
    spec, card = meta["input_spec"], info["card"]
    params = card["params"]
    chans = "gray" if spec["in_chans"] == 1 else f"{spec['in_chans']} channels"
    model = f"{meta['backbone']['name']}, {spec['input_size'][0]}x{spec['input_size'][1]} {chans}"
    if params is not None:
        model += f", {params:,} parameters"
    head = (meta.get("temporal") or {}).get("name")
    model += f"; temporal head {head} (runs with --temporal {head})" if head else "; no temporal head"
    speed = [f"{number(card['ms_per_face'], '{:.2f}')} ms per face (CPU, batch 1, 2 cores)"] \
        if card["ms_per_face"] is not None else []
    if card["fps"] is not None:
        speed.append(f"{card['fps']:.1f} fps end to end with {card['fps_detector'] or 'its detector'}")
    train = meta.get("train") if isinstance(meta.get("train"), dict) else {}
    rows = [
        ["model", model],
        *_accuracy_rows(meta),
        ["speed", "; ".join(speed) or "(not measured)"],
        ["classes", _classes_text(meta["classes"])],
        ["faces", f"detector {meta.get('detector') or '(pipeline default)'}, crop "
                  f"{_crop_text(meta.get('crop')) or '(pipeline default)'}, the central "
                  f"{spec['crop_size']} of the 120 crop, illumination "
                  f"{meta.get('illumination') or 'none'}"],
        *[["trained by" if k == 0 else "", t] for k, t in enumerate(_trained_by(train))],
        ["licence", meta.get("licence") or "(not stated)"],
        ["source", meta.get("source") or ""],
        ["file", f"{ckpt.path} ({n_tensors} tensors, {n_values:,} values)"],
        ["sha256", info["sha256"][:16] + "… (" + ("verified" if not no_verify else "not verified")
         + "; whole in --json)"],
    ]
    default = " (the default)" if info["default"] else ""
    title = f"weights {ckpt.label}{default}" + (f": {meta['description']}" if meta.get("description") else "")
    print_table(title, ["field", "value"], rows)
    if full:
        import yaml

        click.echo(yaml.safe_dump({k: v for k, v in info.items() if k not in ("card", "accuracy")},
                                  sort_keys=False, allow_unicode=True, width=100))
    else:
        click.echo(f"(everything: fertk weights info {name} --full, or --json)")


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
