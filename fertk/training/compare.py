"""``fertk compare``: several configurations under one protocol, on the same folds.

Every configuration is trained (or its finished run reused) on the *same* split file, with
``seeds`` seeds each, then a table gives mean ± std (over folds, or over seeds on a fixed
split such as FER2013's) of accuracy, UAR and macro-F1, their 95 % bootstrap intervals over
test items, parameters, MACs and CPU batch-1 latency; each configuration is tested against
the first (the baseline): paired t-test and Wilcoxon signed-rank test over folds, paired
bootstrap over the same test items, and McNemar's test on per-item correctness. Outputs:
``compare.md``, ``compare.csv``, ``compare.json``, ``compare.png`` and ``manifest.json``;
``fertk compare OUT/manifest.json`` re-runs the comparison from the manifest.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from fertk.errors import FertkError
from fertk.training.config import TrainConfig, build_config, load_config
from fertk.training.metrics import METRICS
from fertk.training.reports import (
    pareto_front,
    plot_comparison,
    plot_pareto,
    read_json,
    table_markdown,
    write_json,
    write_table_csv,
)
from fertk.training.stats import format_mean_std, mean_std, paired_tests

MANIFEST_FORMAT = "fertk-compare-manifest"


def read_manifest(path: str | Path) -> dict[str, Any]:
    """A compare manifest (``OUT/manifest.json``); one :class:`FertkError` naming the file when
    it cannot be read, is not JSON or is not a fertk compare manifest."""
    import json

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise FertkError(f"{path}: cannot read the compare manifest ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise FertkError(f"{path}: not a fertk compare manifest (not JSON: {exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
        raise FertkError(f"{path}: not a fertk compare manifest (format {MANIFEST_FORMAT})")
    if not isinstance(doc.get("configs"), dict) or not doc["configs"]:
        raise FertkError(f"{path}: the compare manifest names no configs (its 'configs' entry)")
    return doc


def load_configs(paths: list[str], overrides: list[str] | tuple[str, ...] = ()) -> list[TrainConfig]:
    """Configs from files, or from a compare manifest (a single ``manifest.json``)."""
    if len(paths) == 1 and str(paths[0]).endswith(".json"):
        doc = read_manifest(paths[0])
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

    from fertk.models.cost import count_macs, count_params, example_input, measure_latency
    from fertk.training.fold_runner import build_backbone, build_head

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
            data: Any = None, argv: list[str] | None = None, timing: bool = True,
            seeds: int | None = None) -> dict[str, Any]:
    """Train/reuse every configuration on one split file and write the comparison.

    ``seeds`` trains each configuration with seeds ``run.seed, run.seed + 1, ...`` on the same
    split (default 1, or what a re-run manifest recorded).
    """
    from fertk.training.arrays import as_array_set, load_data
    from fertk.training.folds import make_folds, save_splits
    from fertk.training.manifest import build_manifest
    from fertk.training.train import Trainer

    out = Path(out)
    cfgs = load_configs(list(paths), overrides)
    if seeds is None:
        seeds = int(manifest_seeds(paths) or 1)
    if seeds < 1:
        raise FertkError(f"--seeds must be at least 1 (got {seeds})")
    _check_same_protocol(cfgs)
    base = cfgs[0]
    ds = as_array_set(data if data is not None else load_data(base.data, base.run.progress))
    split_file = out / "splits.json"
    if not split_file.exists():
        save_splits(split_file, make_folds(ds, base.protocol, base.run.seed),
                    {"protocol": base.protocol.kind, "data_hash": ds.key})
    runs: dict[str, list[dict[str, Any]]] = {}
    resolved: dict[str, Any] = {}
    for cfg in cfgs:
        cfg = copy.deepcopy(cfg)
        cfg.protocol.kind, cfg.protocol.splits = "splits", str(split_file.resolve())
        resolved[cfg.name] = cfg.to_dict()
        runs[cfg.name] = []
        for i in range(seeds):
            c = copy.deepcopy(cfg)
            c.run.seed = cfg.run.seed + i
            run_dir = out / "runs" / cfg.name / (f"seed{c.run.seed}" if seeds > 1 else "")
            summary_file = run_dir / "summary.json"
            if summary_file.exists() and read_json(summary_file).get("config_digest") == c.digest():
                summary = read_json(summary_file)
            else:
                summary = Trainer(c, out=run_dir, resume=run_dir.exists(), data=ds, argv=argv).run()
            summary["_cfg"], summary["_dir"] = c, run_dir
            runs[cfg.name].append(summary)
    result = _tabulate(cfgs, runs, len(ds.classes), timing)
    result["selection"] = base.selection_label
    result["splits"] = str(split_file)
    result["seeds"] = seeds
    _write(out, result)
    rerun = f"fertk compare {out / 'manifest.json'}" + (f" --seeds {seeds}" if seeds > 1 else "")
    write_json(out / "manifest.json", build_manifest(
        configs=resolved, data_hash=ds.key, split_files=[split_file],
        argv=argv if argv is not None else list(sys.argv),
        extra={"format": MANIFEST_FORMAT, "rerun": rerun, "seeds": seeds,
               "selection": base.selection_label},
    ))
    return result


def manifest_seeds(paths: list[str]) -> int | None:
    """The number of seeds a compare manifest recorded (None for config files)."""
    if len(paths) == 1 and str(paths[0]).endswith(".json"):
        return read_manifest(paths[0]).get("seeds")
    return None


def _predictions(run: dict[str, Any], stage: str) -> tuple[list[int], list[int]] | None:
    """A run's test labels and predictions, pooled over its folds in fold order."""
    labels: list[int] = []
    predicted: list[int] = []
    for fold in run["folds"]:
        res = read_json(Path(run["_dir"]) / "folds" / fold / "result.json")
        pred = (res.get(stage) or {}).get("predictions")
        if not pred:
            return None
        labels += pred["labels"]
        predicted += pred["predicted"]
    return labels, predicted


def _tabulate(cfgs: list[TrainConfig], runs: dict[str, list[dict[str, Any]]], k: int,
              timing: bool) -> dict[str, Any]:
    import numpy as np

    from fertk.training.stats import bootstrap, mcnemar, paired_bootstrap

    rows: list[dict[str, Any]] = []
    boots: dict[tuple[str, str], dict[str, Any]] = {}
    preds: dict[tuple[str, str], list] = {}
    for cfg in cfgs:
        seed_runs = runs[cfg.name]
        cost = model_costs(seed_runs[0]["_cfg"], k, timing)
        for stage in seed_runs[0]["stages"]:
            per_seed = [r["stages"][stage]["per_fold"] for r in seed_runs if stage in r["stages"]]
            per_fold = {m: np.mean([ps[m] for ps in per_seed], axis=0).tolist() for m in METRICS}
            row = {"config": cfg.name, "stage": stage, "backbone": cfg.model.backbone,
                   "temporal": cfg.model.temporal if stage == "sequence" else None,
                   "folds": len(seed_runs[0]["folds"]), "seeds": len(per_seed), "per_fold": per_fold,
                   "per_seed": {m: [float(np.mean(ps[m])) for ps in per_seed] for m in METRICS},
                   "params": cost["params"] + (cost.get("head_params", 0) if stage == "sequence" else 0),
                   "macs": cost["macs"] + (cost.get("head_macs", 0) if stage == "sequence" else 0),
                   "latency_ms": cost.get("latency_ms")}
            for m in METRICS:
                row[m] = dict(zip(("mean", "std"), mean_std(per_fold[m]), strict=True))
                row[m]["seed_std"] = mean_std(row["per_seed"][m])[1]
            pr = [_predictions(r, stage) for r in seed_runs]
            if all(p is not None for p in pr):
                preds[(cfg.name, stage)] = pr
                boots[(cfg.name, stage)] = bootstrap(pr, k, seed=0)
                row["ci95"] = {m: {"lo": boots[(cfg.name, stage)][m]["lo"],
                                   "hi": boots[(cfg.name, stage)][m]["hi"]} for m in METRICS}
                row["test_items"] = len(pr[0][0])
            rows.append(row)
    base = cfgs[0].name
    tests = []
    for row in rows:
        if row["config"] == base:
            continue
        key, ref_key = (row["config"], row["stage"]), (base, row["stage"])
        ref = next((r for r in rows if r["config"] == base and r["stage"] == row["stage"]), None)
        if ref is None:
            continue
        same_items = key in boots and ref_key in boots and \
            preds[key][0][0] == preds[ref_key][0][0]
        for m in METRICS:
            t: dict[str, Any] = {"baseline": base, "config": row["config"], "stage": row["stage"],
                                 "metric": m}
            if len(ref["per_fold"][m]) == len(row["per_fold"][m]):
                t.update(paired_tests(ref["per_fold"][m], row["per_fold"][m]))
            if same_items:
                t["bootstrap"] = paired_bootstrap(boots[ref_key], boots[key], m)
                if m == "accuracy":
                    (ya, pa), (yb, pb) = preds[ref_key][0], preds[key][0]
                    t["mcnemar"] = mcnemar(np.equal(ya, pa), np.equal(yb, pb))
            tests.append(t)
    return {"baseline": base, "rows": rows, "paired_tests": tests}


def _ci(r: dict[str, Any], m: str) -> str:
    ci = (r.get("ci95") or {}).get(m)
    return f"[{100 * ci['lo']:.2f}, {100 * ci['hi']:.2f}]" if ci else ""


def _write(out: Path, result: dict[str, Any]) -> None:
    seeds = int(result.get("seeds", 1))
    spread = "std over seeds" if all(r["folds"] == 1 for r in result["rows"]) else "std over folds"
    cols = ["config", "stage", "backbone", "temporal", "folds", "seeds", "accuracy %",
            "accuracy 95% CI", "UAR %", "UAR 95% CI", "macro-F1 %", "macro-F1 95% CI", "params",
            "MMACs/frame", "CPU latency ms"]

    def cell(r: dict[str, Any], m: str) -> str:
        if r["folds"] > 1:
            return format_mean_std(r["per_fold"][m])
        return format_mean_std(r["per_seed"][m])

    md_rows, csv_rows = [], []
    for r in result["rows"]:
        lat = f"{r['latency_ms']:.2f}" if r.get("latency_ms") is not None else ""
        cells = [x for m in METRICS for x in (cell(r, m), _ci(r, m))]
        md_rows.append([r["config"], r["stage"], r["backbone"], r["temporal"] or "", r["folds"],
                        r["seeds"], *cells, f"{r['params']:,}", f"{r['macs'] / 1e6:.1f}", lat])
        csv_rows.append([r["config"], r["stage"], r["backbone"], r["temporal"] or "", r["folds"],
                         r["seeds"], *cells, r["params"], r["macs"], r.get("latency_ms")])
    t_cols = ["config vs baseline", "stage", "metric", "mean diff (pp)", "paired t p", "Wilcoxon p",
              "bootstrap diff 95% CI (pp)", "bootstrap p", "McNemar p"]
    t_rows = []
    for t in result["paired_tests"]:
        bs = t.get("bootstrap") or {}
        diff = t.get("mean_difference", bs.get("mean_difference"))
        t_rows.append([f"{t['config']} vs {t['baseline']}", t["stage"], t["metric"],
                       f"{100 * diff:+.2f}" if diff is not None else "",
                       _p(t.get("t_pvalue")), _p(t.get("wilcoxon_pvalue")),
                       f"[{100 * bs['lo']:+.2f}, {100 * bs['hi']:+.2f}]" if bs else "",
                       _p(bs.get("pvalue")), _p((t.get("mcnemar") or {}).get("pvalue"))])
    md = ["# Comparison", "", f"- model selection: **{result['selection']}**",
          f"- split file: `{result['splits']}` (every configuration uses the same folds)",
          f"- seeds per configuration: {seeds}; values: mean ± {spread} (sample std)",
          "- 95% CI: percentile bootstrap over test items (2,000 resamples; metric averaged over "
          "seeds), pooled over folds", "", table_markdown(cols, md_rows), ""]
    if t_rows:
        md += ["## Tests against the baseline", "",
               "Paired t / Wilcoxon over folds (need two or more folds: n/a otherwise); paired "
               "bootstrap over the "
               "same test items; McNemar on per-item correctness (first seed).", "",
               table_markdown(t_cols, t_rows), ""]
    md += ["![comparison](compare.png)", ""]
    timed = [r for r in result["rows"] if r.get("latency_ms")]
    if len(timed) >= 2:
        result["pareto"] = [timed[i]["config"] + "/" + timed[i]["stage"] for i in pareto_front(
            [r["latency_ms"] for r in timed], [r["accuracy"]["mean"] for r in timed])]
        md += [f"Pareto frontier (accuracy against CPU latency): {', '.join(result['pareto'])}", "",
               "![accuracy against CPU latency](pareto.png)", ""]
    (out / "compare.md").write_text("\n".join(md), encoding="utf-8")
    write_table_csv(out / "compare.csv", cols, csv_rows)
    write_json(out / "compare.json", result)
    names = [f"{r['config']}/{r['stage']}" for r in result["rows"]]
    points = {m: [r["per_fold"][m] if r["folds"] > 1 else r["per_seed"][m] for r in result["rows"]]
              for m in METRICS}
    plot_comparison(out / "compare.png", names, points,
                    title=f"selection: {result['selection']}; points: "
                          + ("folds" if spread.endswith("folds") else "seeds"))
    if len(timed) >= 2:
        ci = [(r.get("ci95") or {}).get("accuracy") for r in timed]
        have_ci = all(c is not None for c in ci)
        plot_pareto(out / "pareto.png", [f"{r['config']}/{r['stage']}" for r in timed],
                    [r["latency_ms"] for r in timed], [r["accuracy"]["mean"] for r in timed],
                    [c["lo"] for c in ci] if have_ci else None, [c["hi"] for c in ci] if have_ci else None,
                    title="accuracy (95% bootstrap interval) against CPU batch-1 latency")


def _p(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "n/a"
    return f"{v:.3g}"
