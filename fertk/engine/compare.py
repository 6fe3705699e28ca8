"""``fertk compare``: several configurations under one protocol, on the same folds.

Every configuration is trained (or its finished run reused) on the *same* split file, then
a table gives mean ± std over folds of accuracy, UAR and macro-F1 with parameters, MACs and
CPU batch-1 latency; each configuration is tested against the first (the baseline) with a
paired t-test and a Wilcoxon signed-rank test over the per-fold values. Outputs:
``compare.md``, ``compare.csv``, ``compare.json``, ``compare.png`` and ``manifest.json``;
``fertk compare OUT/manifest.json`` re-runs the comparison from the manifest.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from fertk.engine.config import TrainConfig, build_config, load_config
from fertk.engine.metrics import METRICS
from fertk.engine.reports import (
    plot_comparison,
    read_json,
    table_markdown,
    write_json,
    write_table_csv,
)
from fertk.engine.stats import format_mean_std, mean_std, paired_tests
from fertk.errors import FertkError

MANIFEST_FORMAT = "fertk-compare-manifest"


def load_configs(paths: list[str], overrides: list[str] | tuple[str, ...] = ()) -> list[TrainConfig]:
    """Configs from files, or from a compare manifest (a single ``manifest.json``)."""
    if len(paths) == 1 and str(paths[0]).endswith(".json"):
        doc = read_json(paths[0])
        if doc.get("format") != MANIFEST_FORMAT:
            raise FertkError(f"{paths[0]}: not a fertk compare manifest (format {MANIFEST_FORMAT})")
        return [build_config(c, overrides, where=f"{paths[0]}:{name}")
                for name, c in doc["configs"].items()]
    if len(paths) < 1:
        raise FertkError("compare needs at least one CONFIG (two or more to compare)")
    cfgs = [load_config(p, overrides) for p in paths]
    seen: dict[str, int] = {}
    for c in cfgs:  # unique names
        if c.name in seen:
            seen[c.name] += 1
            c.name = f"{c.name}-{seen[c.name]}"
        else:
            seen[c.name] = 1
    return cfgs


def _check_same_protocol(cfgs: list[TrainConfig]) -> None:
    base = cfgs[0]
    for c in cfgs[1:]:
        for section in ("data", "protocol"):
            a, b = getattr(base, section).__dict__, getattr(c, section).__dict__
            diff = sorted(k for k in a if a[k] != b[k] and not (section == "protocol" and k in ("kind", "splits")))
            if diff:
                raise FertkError(f"compare: config '{c.name}' differs from '{base.name}' in "
                                 f"{section}.{diff[0]}; every configuration must use the same data "
                                 "and protocol")


def model_costs(cfg: TrainConfig, num_classes: int, timing: bool = True) -> dict[str, Any]:
    """Parameters, MACs per frame and CPU batch-1 latency of the frame model (+ head)."""
    import torch

    from fertk.engine.fold import build_backbone, build_head
    from fertk.models.cost import count_macs, count_params, example_input, measure_latency

    model = build_backbone(cfg, num_classes).eval()
    x = example_input(model, 1)
    out: dict[str, Any] = {"params": count_params(model), "macs": count_macs(model, x)}
    if timing:
        with torch.no_grad():
            out["latency_ms"] = measure_latency(model, x, iters=15, max_seconds=2.0)["median_ms"]
    if cfg.model.temporal and cfg.sequence.enabled:
        dim = num_classes if cfg.sequence.input_kind == "probs" else int(model.feature_dim)
        head, _ = build_head(cfg, num_classes, dim)
        out["head_params"] = count_params(head)
        out["head_macs"] = count_macs(head.eval(), example_input(head, 1))
    return out


def compare(paths: list[str], out: str | Path, overrides: list[str] | tuple[str, ...] = (),
            data: Any = None, argv: list[str] | None = None, timing: bool = True) -> dict[str, Any]:
    """Train/reuse every configuration on one split file and write the comparison."""
    from fertk.engine.data import as_array_set, load_data
    from fertk.engine.folds import make_folds, save_splits
    from fertk.engine.manifest import build_manifest
    from fertk.engine.train import Trainer

    out = Path(out)
    cfgs = load_configs(list(paths), overrides)
    _check_same_protocol(cfgs)
    base = cfgs[0]
    ds = as_array_set(data if data is not None else load_data(base.data, base.run.progress))
    split_file = out / "splits.json"
    if not split_file.exists():
        save_splits(split_file, make_folds(ds, base.protocol, base.run.seed),
                    {"protocol": base.protocol.kind, "data_hash": ds.key})
    runs: dict[str, dict[str, Any]] = {}
    resolved: dict[str, Any] = {}
    for cfg in cfgs:
        cfg = copy.deepcopy(cfg)
        cfg.protocol.kind, cfg.protocol.splits = "splits", str(split_file.resolve())
        run_dir = out / "runs" / cfg.name
        resolved[cfg.name] = cfg.to_dict()
        summary_file = run_dir / "summary.json"
        if summary_file.exists() and read_json(summary_file).get("config_digest") == cfg.digest():
            runs[cfg.name] = read_json(summary_file)
        else:
            runs[cfg.name] = Trainer(cfg, out=run_dir, resume=run_dir.exists(), data=ds,
                                     argv=argv).run()
        runs[cfg.name]["_cfg"] = cfg
    result = _tabulate(cfgs, runs, len(ds.classes), timing)
    result["selection"] = base.selection_label
    result["splits"] = str(split_file)
    _write(out, result)
    write_json(out / "manifest.json", build_manifest(
        configs=resolved, data_hash=ds.key, split_files=[split_file],
        argv=argv if argv is not None else list(sys.argv),
        extra={"format": MANIFEST_FORMAT, "rerun": f"fertk compare {out / 'manifest.json'}",
               "selection": base.selection_label},
    ))
    return result


def _tabulate(cfgs: list[TrainConfig], runs: dict[str, dict[str, Any]], k: int,
              timing: bool) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for cfg in cfgs:
        run = runs[cfg.name]
        cost = model_costs(run["_cfg"], k, timing)
        for stage, st in run["stages"].items():
            row = {"config": cfg.name, "stage": stage, "backbone": cfg.model.backbone,
                   "temporal": cfg.model.temporal if stage == "sequence" else None,
                   "folds": len(run["folds"]), "per_fold": st["per_fold"],
                   "params": cost["params"] + (cost.get("head_params", 0) if stage == "sequence" else 0),
                   "macs": cost["macs"] + (cost.get("head_macs", 0) if stage == "sequence" else 0),
                   "latency_ms": cost.get("latency_ms")}
            for m in METRICS:
                row[m] = dict(zip(("mean", "std"), mean_std(st["per_fold"][m]), strict=True))
            rows.append(row)
    base = cfgs[0].name
    tests = []
    for row in rows:
        if row["config"] == base:
            continue
        ref = next((r for r in rows if r["config"] == base and r["stage"] == row["stage"]), None)
        if ref is None or len(ref["per_fold"]["accuracy"]) != len(row["per_fold"]["accuracy"]):
            continue
        for m in METRICS:
            t = paired_tests(ref["per_fold"][m], row["per_fold"][m])
            tests.append({"baseline": base, "config": row["config"], "stage": row["stage"],
                          "metric": m, **t})
    return {"baseline": base, "rows": rows, "paired_tests": tests}


def _write(out: Path, result: dict[str, Any]) -> None:
    cols = ["config", "stage", "backbone", "temporal", "folds", "accuracy %", "UAR %",
            "macro-F1 %", "params", "MMACs/frame", "CPU latency ms"]
    md_rows, csv_rows = [], []
    for r in result["rows"]:
        cells = [format_mean_std(r["per_fold"][m]) for m in METRICS]
        lat = f"{r['latency_ms']:.2f}" if r.get("latency_ms") is not None else ""
        md_rows.append([r["config"], r["stage"], r["backbone"], r["temporal"] or "", r["folds"],
                        *cells, f"{r['params']:,}", f"{r['macs'] / 1e6:.1f}", lat])
        csv_rows.append([r["config"], r["stage"], r["backbone"], r["temporal"] or "", r["folds"],
                         *[f"{100 * r[m]['mean']:.4f}±{100 * r[m]['std']:.4f}" for m in METRICS],
                         r["params"], r["macs"], r.get("latency_ms")])
    t_cols = ["config vs baseline", "stage", "metric", "mean diff (pp)", "paired t p", "Wilcoxon p"]
    t_rows = [[f"{t['config']} vs {t['baseline']}", t["stage"], t["metric"],
               f"{100 * t['mean_difference']:+.2f}", _p(t["t_pvalue"]), _p(t["wilcoxon_pvalue"])]
              for t in result["paired_tests"]]
    md = ["# Comparison", "", f"- model selection: **{result['selection']}**",
          f"- split file: `{result['splits']}` (every configuration uses the same folds)",
          "- values: mean ± std over folds (sample std)", "", table_markdown(cols, md_rows), ""]
    if t_rows:
        md += ["## Paired tests against the baseline (same folds)", "",
               table_markdown(t_cols, t_rows), ""]
    md += ["![comparison](compare.png)", ""]
    (out / "compare.md").write_text("\n".join(md), encoding="utf-8")
    write_table_csv(out / "compare.csv", cols, csv_rows)
    write_json(out / "compare.json", result)
    names = [f"{r['config']}/{r['stage']}" for r in result["rows"]]
    plot_comparison(out / "compare.png", names,
                    {m: [r["per_fold"][m] for r in result["rows"]] for m in METRICS},
                    title=f"selection: {result['selection']}")


def _p(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "n/a"
    return f"{v:.3g}"
