"""CLI commands: ``fertk train``, ``fertk eval`` and ``fertk compare``."""

from __future__ import annotations

import sys

import click

from fertk.clitools import (
    ComponentType,
    DetectorChoice,
    component_option,
    crop_options_option,
    dataset_options_option,
    device_option,
    parse_options,
    workers_option,
)
from fertk.hookspecs import hookimpl


@click.command("train")
@click.argument("config", type=click.Path(dir_okay=False), required=False)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set frame.epochs=5 (repeatable).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run directory (default: run.out or runs/<name>).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out.")
@click.option("--preset", type=click.Choice(["default", "paper"]), default=None,
              help="Recipe preset (same as --set preset=...).")
@click.option("--init", "init_from", default=None, metavar="NAME|CHECKPOINT",
              help="Fine-tune from these weights: a registered name (fertk weights list) or a "
                   "checkpoint (same as --set model.init_from=...).")
@click.option("--print-config", is_flag=True, help="Print the resolved config as YAML and exit.")
def train_command(config, overrides, out, resume, preset, init_from, print_config) -> None:
    """Train the frame model, then the temporal head, on every fold of CONFIG's protocol.

    CONFIG is a YAML or TOML file (see examples/configs/). Model selection uses validation
    subjects carved from the training subjects unless protocol.selection is 'test-fold'
    (the paper's optimistic reporting, labelled in every report). Works unchanged under
    torchrun (DDP).

    \b
    Examples:
      fertk train examples/configs/ckplus_compact_gru.yaml --set data.root=/data/CK+
      fertk train cfg.yaml --set frame.epochs=5 --out runs/try --resume
      fertk train examples/configs/ckplus_finetune.yaml --set data.root=/data/CK+ --init runs/fer/folds/standard/frame
    """
    from fertk.clitools import console
    from fertk.training.config import config_to_yaml, load_config
    from fertk.training.train import Trainer

    overrides = list(overrides)
    if preset:
        overrides.insert(0, f"preset={preset}")
    if init_from:
        import json

        overrides.append(f"model.init_from={json.dumps(init_from)}")  # a YAML string, quoted
    cfg = load_config(config, overrides)
    if print_config:
        click.echo(config_to_yaml(cfg))
        return
    trainer = Trainer(cfg, out=out, resume=resume, argv=["fertk", *sys.argv[1:]])
    summary = trainer.run()
    if trainer_is_main():
        _print_summary(console(), summary, trainer.out)


def trainer_is_main() -> bool:
    import os

    return int(os.environ.get("RANK", "0")) == 0


def _print_summary(con, summary, out) -> None:
    from fertk.clitools import print_table
    from fertk.training.stats import format_mean_std

    rows = []
    for stage, st in summary["stages"].items():
        rows.append([stage, *[format_mean_std(st["per_fold"][m]) for m in ("accuracy", "uar", "macro_f1")],
                     f"{100 * st['pooled']['accuracy']:.2f}"])
    print_table(f"{summary['name']}: {len(summary['folds'])} folds; selection: {summary['selection']}",
                ["stage", "accuracy %", "UAR %", "macro-F1 %", "pooled acc %"], rows)
    con.print(f"reports in {out}")


@click.command("eval")
@click.argument("checkpoint", metavar="CHECKPOINT")
@click.argument("dataset", type=ComponentType("datasets"), metavar="DATASET")
@click.option("--root", required=True, type=click.Path(exists=True, file_okay=False),
              help="Root folder of the data set.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for the reports [default: eval-DATASET-FOLD-STAGE for a training "
                   "run's checkpoint (eval-fer2013-standard-frame), eval-DATASET-NAME for "
                   "registered weights; -2, -3 ... added rather than overwrite one].")
@click.option("--detector", "-d", type=DetectorChoice(), default=None,
              help="Override the checkpoint's detector (a registered one, 'dataset' or 'none').")
@component_option("--crop", "-c", kind="crops", default=None, show_default=False,
                  help="Override the checkpoint's crop policy.")
@crop_options_option()
@click.option("--frames", type=click.Choice(["peak", "all"]), default="peak", show_default=True,
              help="Frames scored by the frame model.")
@click.option("--cache-dir", default=None, help="Prepared-data cache folder.")
@workers_option(help="Parallel processes that prepare (detect and crop) the data set.")
@device_option()
@click.option("--rows", type=click.Choice(["test", "all"]), default="test", show_default=True,
              help="test: only the rows the checkpoint was tested on, when its metadata names "
                   "them for this data set, else the data set's standard test split (FER2013's "
                   "PrivateTest); all: every row.")
@click.option("--splits", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Split file of a training run (RUN/splits.json); with --fold, score only "
                   "that fold's test subjects.")
@click.option("--fold", default=None, help="Fold name (fold01) or number (1) in --splits.")
@dataset_options_option(example="-o mode=sequence")
def eval_command(checkpoint, dataset, root, out, detector, crop, crop_opts, frames, cache_dir,
                 workers, device, rows, splits, fold, options) -> None:
    """Evaluate CHECKPOINT on DATASET: accuracy, UAR, macro-F1, per-class table, confusion matrix.

    \b
    Examples:
      fertk eval runs/ck/folds/fold01/sequence ckplus --root /data/CK+ --out eval/
      fertk eval minixception-fer2013 fer2013 --root /data/fer2013   # its PrivateTest accuracy
    """

    from fertk.clitools import console, print_table
    from fertk.training.config import parse_override
    from fertk.training.evaluate import evaluate_dataset

    opts: dict = {}
    for o in options:
        opts.update(parse_override(o))
    from fertk.fsutil import check_out_dir
    from fertk.training.evaluate import default_out_dir

    out = out or str(default_out_dir(checkpoint, dataset))
    check_out_dir(out, "--out")  # before the data set is prepared
    report = evaluate_dataset(checkpoint, dataset, root, out, detector=detector, crop=crop,
                              crop_options=parse_options(crop_opts, "--crop-option") or None,
                              cache_dir=cache_dir, workers=workers, frames=frames, device=device,
                              rows=rows, splits=splits, fold=fold, **opts)
    console().print(f"scored: {report['dataset']['rows']}; detector "
                    f"{report['dataset']['detector']}, crop {report['dataset']['crop']}")
    if report.get("rows_without_face"):
        console().print(f"{report['rows_without_face']} of the scored rows have no face found "
                        "in them: counted as wrong (in n, accuracy and recall)")
    if report.get("warning"):
        click.echo(f"Warning: {report['warning']}", err=True)
    for stage in ("frame", "sequence"):
        if stage not in report:
            continue
        m = report[stage]
        rows = [[r["class"], r["support"], f"{100 * r['recall']:.1f}", f"{100 * r['precision']:.1f}",
                 f"{100 * r['f1']:.1f}"] for r in m["per_class"]]
        print_table(f"{stage}: n={m['n']}  accuracy {100 * m['accuracy']:.2f}%  UAR "
                    f"{100 * m['uar']:.2f}%  macro-F1 {100 * m['macro_f1']:.2f}%",
                    ["class", "support", "recall %", "precision %", "F1 %"], rows)
    dropped = report.get("dropped_rows_by_class") or {}
    if dropped:
        click.echo(f"not scored: {', '.join(f'{c} ({n} frames)' for c, n in dropped.items())}: "
                   f"not among the checkpoint's classes ({', '.join(report['classes'])})")
    console().print(f"reports in {out} (selection of the checkpoint: {report['selection']})")


@click.command("compare")
@click.argument("configs", nargs=-1, required=True)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override applied to every config (e.g. --set data.root=/data/CK+).")
@click.option("--out", type=click.Path(file_okay=False), default="compare", show_default=True,
              help="Folder of the comparison: tables, plots, splits.json and entries/<name>.json "
                   "(each finished entry's result, per-item predictions included).")
@click.option("--runs", type=click.Path(file_okay=False), default=None,
              help="Folder of the entries' run folders (RUNS/<name>) [default: OUT/runs, or the "
                   "manifest's]. Put it outside a repository: the results are OUT's files.")
@click.option("--no-timing", is_flag=True, help="Skip the CPU latency measurement.")
@click.option("--retime", is_flag=True,
              help="Measure the CPU latency of finished entries again (kept in their entry files).")
@click.option("--seeds", type=click.IntRange(min=1), default=None,
              help="Train every config with this many seeds on the same split [default: 1, or "
                   "the manifest's].")
@click.option("--entry", "only", multiple=True, metavar="NAME",
              help="Train only this entry (a config's name), repeatable; the table still has "
                   "every config, those neither finished nor trained as 'not run'.")
@click.option("--no-train", is_flag=True,
              help="Train nothing: the table of the finished entries (entry files, finished run "
                   "folders, --reuse), the others 'not run'.")
@click.option("--reuse", multiple=True, metavar="NAME=RUN",
              help="Take entry NAME's run from RUN, a finished 'fertk train' run folder, instead "
                   "of training it; refused unless RUN has the entry's data, folds, model, recipe "
                   "and seed. Repeatable.")
def compare_command(configs, overrides, out, runs, no_timing, retime, seeds, only, no_train,
                    reuse) -> None:
    """Compare CONFIGS on the same folds: mean ± std per metric, bootstrap intervals, tests, cost.

    Each config is an entry; the first is the baseline. A finished entry's result is kept in
    OUT/entries/<name>.json and the table is made from those files, so re-running the same
    command trains nothing that is finished (even with its run folder gone), resumes an
    interrupted entry from its run folder, and trains the rest. Pass OUT/manifest.json of an
    earlier comparison to re-run it. On a fixed split (FER2013's standard protocol, one fold)
    use --seeds N: the spread is then over seeds, intervals come from a bootstrap over test
    images, and every config is tested against the first with a paired bootstrap and
    McNemar's test.

    \b
    Examples:
      fertk compare examples/configs/ckplus_compact_gru.yaml examples/configs/ckplus_tiny.yaml \\
          --set data.root=/data/CK+ --out compare-ck
      fertk compare examples/configs/leaderboard/*.yaml --set data.root=/data/fer2013 \\
          --out benchmarks/results/fer2013_leaderboard --runs ~/fertk-runs/leaderboard --entry lb_dtan
      fertk compare examples/configs/leaderboard/*.yaml --set data.root=/data/fer2013 \\
          --out benchmarks/results/fer2013_leaderboard --no-train
    """
    from pathlib import Path

    from fertk.fsutil import check_out_dir
    from fertk.training.compare import compare

    check_out_dir(out, "--out")
    if runs is not None:
        check_out_dir(runs, "--runs")
    result = compare(list(configs), out, overrides=list(overrides), argv=["fertk", *sys.argv[1:]],
                     timing=not no_timing, seeds=seeds, runs=runs, reuse=list(reuse),
                     only=list(only), train=not no_train, retime=retime)
    print_comparison(result, Path(out))


#: Columns of ``fertk compare``'s terminal table left out, in this order, when it is too wide
#: (compare.md has them all).
COMPARE_DROP = ("accuracy 95% CI", "UAR 95% CI", "macro-F1 95% CI", "MMACs/frame", "input",
                "temporal", "backbone", "folds", "seeds", "train min", "params", "macro-F1 %",
                "UAR %")
#: The same for the tests against the baseline.
TESTS_DROP = ("Wilcoxon p", "paired t p", "bootstrap diff 95% CI (pp)", "McNemar p")


def print_comparison(result: dict, out) -> None:
    """``fertk compare``'s terminal output: the comparison and the tests against the baseline
    as tables that fit the terminal (:mod:`fertk.clitable`), then where everything is."""
    from fertk.clitools import console, print_table
    from fertk.training.compare import (
        COLUMNS,
        TEST_COLUMNS,
        baseline_test_rows,
        table_rows,
    )

    rows, _ = table_rows(result)
    numbers = tuple(c for c in COLUMNS if c not in ("config", "stage", "backbone", "temporal",
                                                    "input") and "CI" not in c)
    print_table(f"comparison (selection: {result['selection']}; values: mean ± std, or one "
                "run's value)", COLUMNS, rows, no_wrap=("config",), drop=COMPARE_DROP,
                right=numbers, drop_empty=True)
    tests = baseline_test_rows(result)
    if tests:
        print_table(f"tests against the baseline, {result['baseline']}", TEST_COLUMNS, tests,
                    drop=TESTS_DROP, drop_empty=True)
    if result.get("pareto"):
        console().print(f"Pareto frontier (accuracy against CPU latency): "
                        f"{', '.join(result['pareto'])}", markup=False, highlight=False)
    plots = [name for name in ("compare.png", "pareto.png") if (out / name).is_file()]
    console().print(f"all columns, tests and plots: {out / 'compare.md'}"
                    + (f" ({', '.join(str(out / p) for p in plots)})" if plots else ""),
                    markup=False, highlight=False)


@hookimpl
def register_commands(cli):
    cli.add_command(train_command)
    cli.add_command(eval_command)
    cli.add_command(compare_command)
