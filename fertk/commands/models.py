"""CLI command ``fertk models``: parameters, MACs and CPU speed of every backbone and head."""

from __future__ import annotations

from typing import Any

import click

from fertk.clitools import ComponentType, console, print_json
from fertk.hookspecs import hookimpl


def _rows(
    kind: str,
    pattern: str | None,
    num_classes: int,
    timing: bool,
    engine: str,
    batch: int,
    extra: tuple[str, ...],
    status: Any,
) -> list[dict[str, Any]]:
    import torch

    from fertk.engines import build_engine
    from fertk.models.cost import (
        count_macs,
        count_params,
        example_input,
        measure_latency,
        measure_throughput,
    )
    from fertk.plugins import get_registry

    registry = get_registry(kind)
    names: list[tuple[str, Any]] = []
    for spec in registry:
        if pattern and spec.name not in registry.names(pattern):
            continue
        if spec.prefix:
            example = spec.metadata.get("example")
            if example:
                names.append((example, spec))
        else:
            names.append((spec.name, spec))
    if kind == "backbones":
        names += [(name, registry.get(name)) for name in extra if name not in dict(names)]
    rows = []
    for name, spec in names:
        status.update(f"measuring {name} …")
        row: dict[str, Any] = {"name": name, "kind": "backbone" if kind == "backbones" else "temporal",
                               "plugin": spec.plugin}
        try:
            model = registry.create(name, num_classes=num_classes).eval()
            x1 = example_input(model, 1)
            row.update(params=count_params(model), macs=count_macs(model, x1), input_shape=list(x1.shape[1:]))
            if timing:
                run = build_engine(model, engine, x1) if kind == "backbones" else model
                with torch.inference_mode():
                    row["latency_ms"] = round(measure_latency(run, x1, iters=20, max_seconds=3)["median_ms"], 3)
                    row[f"throughput_b{batch}"] = round(
                        measure_throughput(run, example_input(model, batch), max_seconds=3), 1)
                row["engine"] = engine if kind == "backbones" else "eager"
        except Exception as exc:  # one broken plugin component must not hide the others
            row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        rows.append(row)
    return rows


@click.command("models")
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.option("--no-timing", is_flag=True, help="Skip the latency/throughput measurements.")
@click.option("--num-classes", type=click.IntRange(1), default=7, show_default=True,
              help="Class count the models are built with.")
@click.option("--engine", type=click.Choice(["eager", "channels_last", "torchscript", "onnxruntime"]),
              default="eager", show_default=True, help="Inference engine used for backbone timing.")
@click.option("--batch", type=click.IntRange(1), default=32, show_default=True,
              help="Batch size of the throughput measurement.")
@click.option("--heads/--no-heads", default=True, show_default=True, help="Include temporal heads.")
@click.option("--extra", multiple=True, type=ComponentType("backbones"),
              help="Also measure this backbone (e.g. timm:mobilenetv3_small_100); repeatable.")
@click.option("--threads", type=click.IntRange(1), default=None, help="torch CPU threads (default: torch's).")
def models_command(pattern: str | None, as_json: bool, no_timing: bool, num_classes: int, engine: str,
                   batch: int, heads: bool, extra: tuple[str, ...], threads: int | None) -> None:
    """Parameters, MACs and CPU batch-1 latency / batch throughput of registered models.

    Lists every registered backbone (prefix families such as timm:<name> by their example,
    timm:resnet18) and temporal head, optionally only names matching the glob PATTERN.
    MACs are counted at each model's input size (heads: 9 steps of K probabilities).
    """
    import torch

    if threads:
        torch.set_num_threads(threads)
    kinds = ["backbones"] + (["temporal"] if heads else [])
    with console(stderr=True).status("building models …") as status:
        rows = [r for k in kinds for r in _rows(k, pattern, num_classes, not no_timing, engine, batch,
                                                 extra, status)]
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    tput = f"throughput_b{batch}"
    table = Table(title=f"models (K={num_classes}, {torch.get_num_threads()} CPU threads, engine {engine})",
                  title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    for col in ["params", "MMACs", "input"] + ([] if no_timing else ["ms b=1", f"fps b={batch}"]):
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        if "error" in r:
            table.add_row(r["name"], r["kind"], "[red]error[/red]", r["error"])
            continue
        line = [r["name"], r["kind"], f"{r['params']:,}", f"{r['macs'] / 1e6:,.1f}",
                "x".join(str(v) for v in r["input_shape"])]
        if not no_timing:
            line += [f"{r['latency_ms']:.2f}", f"{r[tput]:,.0f}"]
        table.add_row(*line)
    console().print(table)


@hookimpl
def register_commands(cli):
    cli.add_command(models_command)
