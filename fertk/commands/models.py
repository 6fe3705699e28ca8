"""CLI command ``fertk models``: parameters, MACs and CPU speed of every backbone and head,
and which of them have trained weights.

Latency is measured so that other work on the machine does not swamp it: after a warm-up,
each model runs in rounds and the best round's median counts; the torch thread count is
chosen per model by measuring (unless ``--threads`` fixes it); a warning says when the machine
was busy or the rounds disagreed.
"""

from __future__ import annotations

from typing import Any

import click

from fertk.clitools import ComponentType, EngineType, console, print_json
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
    threads: int | None = None,
) -> list[dict[str, Any]]:
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
        _measure(row, lambda name=name: registry.create(name, num_classes=num_classes).eval(),
                 timing, engine if kind == "backbones" else None, batch, threads)
        rows.append(row)
    return rows


def _trained_rows(pattern: str | None, timing: bool, engine: str, batch: int, status: Any,
                  threads: int | None = None) -> list[dict[str, Any]]:
    """One row per registered weights (matching ``pattern`` by their name or their
    backbone's): the trained frame model as it runs, at its own input size and classes."""
    import fnmatch

    from fertk.plugins import get_registry

    rows = []
    for spec in get_registry("weights"):
        backbone = spec.metadata.get("backbone") or ""
        if pattern and not (fnmatch.fnmatch(spec.name, pattern) or fnmatch.fnmatch(backbone, pattern)):
            continue
        status.update(f"measuring {spec.name} …")
        row: dict[str, Any] = {"name": spec.name, "kind": "trained", "backbone": backbone,
                               "temporal": spec.metadata.get("temporal"), "plugin": spec.plugin,
                               "classes": len(spec.metadata.get("classes") or []) or None}

        def build(name=spec.name):
            from fertk.checkpoint import build_from_checkpoint

            return build_from_checkpoint(name)[0]

        _measure(row, build, timing, engine, batch, threads)
        rows.append(row)
    return rows


def _measure(row: dict[str, Any], build: Any, timing: bool, engine: str | None, batch: int,
             threads: int | None) -> None:
    """Fill ``row`` with the parameters, MACs, input shape (and, with ``timing``, the speed
    with ``engine``; None: the module itself) of the model ``build()`` returns; an error is
    kept in the row, so one broken component does not hide the others."""
    import torch

    from fertk.inference import build_variant
    from fertk.models.cost import count_macs, count_params, example_input

    try:
        model = build()
        x1 = example_input(model, 1)
        row.update(params=count_params(model), macs=count_macs(model, x1), input_shape=list(x1.shape[1:]))
        if timing:
            variant = "eager" if engine in (None, "torch") else engine
            run = build_variant(model, variant, x1) if engine is not None else model
            with torch.inference_mode():
                row.update(_timing(run, x1, example_input(model, batch), batch, threads))
            row["engine"] = engine or "eager"
    except Exception as exc:  # one broken plugin component must not hide the others
        row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _timing(run: Any, x1: Any, xb: Any, batch: int, threads: int | None) -> dict[str, Any]:
    """Batch-1 latency (best round's median, threads chosen by measuring unless given) and
    batch throughput (at its own fastest thread count)."""

    from fertk.models.cost import fastest_threads, measure_latency
    from fertk.threads import torch_threads

    t1 = threads or fastest_threads(run, x1)[0]
    with torch_threads(t1):
        lat = measure_latency(run, x1, warmup=5, warmup_seconds=0.2, iters=50, rounds=5, max_seconds=2)
    tb = threads or fastest_threads(run, xb, calls=2, max_seconds=1)[0]
    with torch_threads(tb):
        tput = measure_latency(run, xb, warmup=1, iters=6, rounds=3, max_seconds=3)
    return {"latency_ms": round(lat["best_ms"], 3), "latency_median_ms": round(lat["median_ms"], 3),
            "latency_spread": round(lat["spread"], 2), "threads": t1,
            f"throughput_b{batch}": round(batch / (tput["best_ms"] / 1000.0), 1),
            "throughput_threads": tb}


def _trained(kind: str, name: str) -> tuple[str, list[str]]:
    """("yes" | "no" | "n/a", registered weight names) of a backbone or temporal head."""
    from fertk.plugins import get_registry

    key = "backbone" if kind == "backbone" else "temporal"
    names = [w.name for w in get_registry("weights") if w.metadata.get(key) == name]
    if names:
        return "yes", names
    if kind == "temporal" and name in get_registry("temporal") \
            and not get_registry("temporal").get(name).metadata.trainable:
        return "n/a", []
    return "no", []


def _busy_warning(load: float | None, rows: list[dict[str, Any]]) -> str | None:
    """A warning when the machine was busy or a model's rounds disagreed."""
    noisy = [r["name"] for r in rows if r.get("latency_spread", 1.0) > 1.5]
    if (load is None or load < 0.75) and not noisy:
        return None
    why = [] if load is None or load < 0.75 else [f"the machine is busy (load {load:.1f} per CPU)"]
    if noisy:
        why.append(f"timings varied by more than 1.5x between rounds ({', '.join(noisy[:4])}"
                   f"{', ...' if len(noisy) > 4 else ''})")
    return ("warning: " + " and ".join(why) + ": the latencies are the best round of each model "
            "and may still be high; measure again on an idle machine")


def _print_table(title: str, rows: list[dict[str, Any]], no_timing: bool, batch: int,
                 last: str = "trained") -> None:
    """One table of ``fertk models`` (names whole, numbers never cut: :mod:`fertk.clitable`);
    ``last``: the row key of the last column (``trained``, or ``backbone`` for weights)."""
    from fertk.clitools import print_table

    numbers = ["params", "MMACs", "input"] + ([] if no_timing else ["ms b=1", f"fps b={batch}"])
    out = []
    for r in rows:
        if "error" in r:
            out.append([r["name"], "error", *[""] * (len(numbers) - 1), r["error"]])
            continue
        line = [f"{r['params']:,}", f"{r['macs'] / 1e6:,.1f}", "x".join(str(v) for v in r["input_shape"])]
        if not no_timing:
            line += [f"{r['latency_ms']:.2f}", f"{r[f'throughput_b{batch}']:,.0f}"]
        tail = r.get(last) or ""
        if last == "backbone" and r.get("temporal"):
            tail += f" + {r['temporal']}"
        out.append([r["name"], *line, tail])
    print_table(title, ["name", *numbers, last], out, no_wrap=("name",), right=tuple(numbers),
                drop=("MMACs", "backbone", "input", f"fps b={batch}"))


@click.command("models")
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.option("--no-timing", is_flag=True, help="Skip the latency/throughput measurements.")
@click.option("--num-classes", type=click.IntRange(1), default=7, show_default=True,
              help="Class count the models are built with.")
@click.option("--engine", type=EngineType(), default="eager", show_default=True,
              help="Engine of the backbone timing, as in fertk run --engine: auto, torch (eager: "
                   "the module itself), or a registered engine (fertk list engines: onnxruntime, "
                   "channels_last, torchscript, int8_dynamic, ...).")
@click.option("--batch", type=click.IntRange(1), default=32, show_default=True,
              help="Batch size of the throughput measurement.")
@click.option("--heads/--no-heads", default=True, show_default=True, help="Include temporal heads.")
@click.option("--trained/--no-trained", "trained_variants", default=True, show_default=True,
              help="Include the trained models (registered weights) at their own input size.")
@click.option("--extra", multiple=True, type=ComponentType("backbones"),
              help="Also measure this backbone (e.g. timm:mobilenetv3_small_100); repeatable.")
@click.option("--threads", type=click.IntRange(1), default=None,
              help="torch CPU threads (default: per model, the fastest of 1, 2, 4, ... CPUs, measured).")
def models_command(pattern: str | None, as_json: bool, no_timing: bool, num_classes: int, engine: str,
                   batch: int, heads: bool, trained_variants: bool, extra: tuple[str, ...],
                   threads: int | None) -> None:
    """Parameters, MACs and CPU batch-1 latency / batch throughput of registered models,
    and whether they have trained weights (fertk weights list).

    Lists every registered backbone at its default options (prefix families such as
    timm:<name> by their example, timm:resnet18), every trained model (the registered weights'
    frame models, at their own input size and classes: compact-fer2013 is compact at 48x48)
    and every temporal head, optionally only names matching the glob PATTERN (a trained model
    matches by its name or its backbone's).
    MACs are counted at each model's input size (heads: 9 steps of K probabilities).
    Latency ("ms b=1"): after a warm-up, 5 rounds of calls; the best round's median, at the
    thread count that measured fastest for that model (--threads fixes it). A warning says
    when the machine was busy. The trained column: "yes" (weights are registered), "no" (train
    it first: its error message names the recipe), "n/a" (a head with no parameters).
    """
    from fertk.models.cost import machine_load

    if engine == "auto":
        from fertk.inference.runtime import auto_engine

        engine = auto_engine()
    load = machine_load()
    with console(stderr=True).status("building models …") as status:
        rows = _rows("backbones", pattern, num_classes, not no_timing, engine, batch, extra,
                     status, threads)
        if trained_variants:
            rows += _trained_rows(pattern, not no_timing, engine, batch, status, threads)
        if heads:
            rows += _rows("temporal", pattern, num_classes, not no_timing, engine, batch, extra,
                          status, threads)
    for r in rows:
        if r["kind"] == "trained":
            r["trained"], r["weights"] = "yes", [r["name"]]
        else:
            r["trained"], r["weights"] = _trained(r["kind"], r["name"])
    warning = None if no_timing else _busy_warning(load, rows)  # load before ours began
    if warning:
        click.echo(warning, err=True)
    if as_json:
        print_json(rows)
        return
    how = "" if no_timing else (f", {threads} CPU thread(s)" if threads else
                                ", fastest thread count per model")
    tables = (("backbone", f"backbones at their default options (K={num_classes}{how}, engine "
                           f"{engine})", "trained"),
              ("trained", f"trained models: the registered weights' frame models at their own "
                          f"input size and classes{how}, engine {engine} (fertk weights list)",
               "backbone"),
              ("temporal", f"temporal heads (K={num_classes}{how})", "trained"))
    for kind, title, last in tables:
        part = [r for r in rows if r["kind"] == kind]
        if part:
            _print_table(title, part, no_timing, batch, last)
    trained = [f"{r['name']}: {', '.join(r['weights'])}" for r in rows
               if r["weights"] and r["kind"] != "trained"]
    if trained:
        console().print("trained weights: " + "; ".join(trained), markup=False, highlight=False)


@hookimpl
def register_commands(cli):
    cli.add_command(models_command)
