"""``fertk compare``: several configurations under one protocol, on the same folds.

Every configuration is an *entry*: trained (or its finished run reused) on the *same* split
file, with ``seeds`` seeds each. A table gives mean ± std (over folds, or over seeds on a
fixed split such as FER2013's) of accuracy, UAR and macro-F1, their 95 % bootstrap intervals
over test items, parameters, MACs, input size, CPU batch-1 latency and training minutes; each
entry is tested against the first (the baseline): paired t-test and Wilcoxon signed-rank test
over folds, paired bootstrap over the same test items, and McNemar's test on per-item
correctness. Outputs: ``compare.md``, ``compare.csv``, ``compare.json``, ``compare.png``,
``pareto.png`` and ``manifest.json``; ``fertk compare OUT/manifest.json`` re-runs the
comparison from the manifest.

Entries are built one at a time and kept: when an entry's runs are finished, its result is
written to ``OUT/entries/<name>.json`` (metrics per seed and fold, the per-item test labels and
predictions, the cost of its model, its training time, and what decides whether it still
stands for its config: the config, the data hash and the folds). The tables are made from
those files alone, so a re-run trains nothing for a finished entry (its run folder may be
gone), resumes an interrupted one from its run folder (``runs``, default ``OUT/runs``),
trains only some entries (``only``) or none (``train=False``: the others are shown as "not
run"), and takes an entry's run from a finished ``fertk train`` run folder (``reuse``).
Whether a run or an entry file stands for an entry is decided in one place:
:func:`provenance_differences`.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fertk.errors import FertkError
from fertk.fsutil import folder_lock
from fertk.training.config import (
    TrainConfig,
    build_config,
    load_config,
    saved_run_config,
)
from fertk.training.folds import folds_digest
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
ENTRY_FORMAT = "fertk-compare-entry"
NOT_RUN = "not run"
#: Class count of the cost columns of entries not run while the data's is unknown (no entry
#: finished, no split file): ``fertk models``' default.
DEFAULT_CLASSES = 7

#: Config keys that do not decide an entry's results: its name; where the data lies and how
#: many processes prepare it (the data itself is compared by its hash); how the protocol names
#: its folds (the folds themselves are compared); run bookkeeping; and where and how the
#: arithmetic runs (device, mixed precision, memory layout, compilation, determinism), which
#: changes rounding, not the protocol.
NOT_RESULTS = frozenset({
    "name", "data.root", "data.cache_dir", "data.workers",
    "protocol.kind", "protocol.splits", "protocol.folds", "protocol.val_fraction",
    "protocol.standard_train", "protocol.standard_val", "protocol.standard_test",
    "run.out", "run.progress", "run.stop_after_epochs", "run.checkpoint_every",
    "run.device", "run.amp", "run.channels_last", "run.compile", "run.deterministic",
})


# -- what decides an entry's results ------------------------------------------------------------
@dataclass(frozen=True)
class Provenance:
    """What decides the results of a trained configuration: its config (but
    :data:`NOT_RESULTS`), the data it was trained on (fertk's data hash, ``key`` of the
    prepared set, recorded as ``data_hash`` by every run: the files' paths, sizes and
    modification times and the preprocessing) and its folds (:func:`folds_digest`)."""

    config: TrainConfig
    data_hash: str | None
    folds: str | None


def result_keys(cfg: TrainConfig) -> dict[str, Any]:
    """``cfg`` as dotted keys (options flattened: ``model.backbone_options.input_size``)
    without :data:`NOT_RESULTS`; the sequence stage only when the config trains one."""
    flat: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):  # an empty one (no options) adds no key
            for key, value in node.items():
                walk(value, f"{prefix}.{key}" if prefix else str(key))
        elif prefix not in NOT_RESULTS:
            flat[prefix] = node

    d = cfg.to_dict()
    if not (cfg.model.temporal and cfg.sequence.enabled):
        d.pop("sequence")
    walk(d, "")
    return flat


_MISSING = "(not set)"


def provenance_differences(want: Provenance, have: Provenance) -> list[tuple[str, Any, Any]]:
    """Where ``have`` (a finished run's, or an entry file's) differs from ``want`` (the
    entry's now), as ``(key, have's value, want's value)``: config keys (:func:`result_keys`),
    then ``data`` and ``folds``. Empty: ``have`` stands for the entry. The one decision of
    whether a run or an entry file is the same protocol, model, recipe and seed."""
    a, b = result_keys(want.config), result_keys(have.config)
    diffs = [(k, b.get(k, _MISSING), a.get(k, _MISSING)) for k in sorted(set(a) | set(b))
             if a.get(k, _MISSING) != b.get(k, _MISSING)]
    if want.data_hash != have.data_hash:
        diffs.append(("data", f"hash {have.data_hash}", f"hash {want.data_hash}"))
    if want.folds != have.folds:
        diffs.append(("folds", f"digest {have.folds}", f"digest {want.folds}"))
    return diffs


def describe_differences(diffs: Sequence[tuple[str, Any, Any]], have: str, want: str,
                         most: int = 6) -> str:
    """``"frame.epochs (run 30, entry 20), data (run hash …, entry hash …)"`` for one line."""

    def short(v: Any) -> str:
        text = json.dumps(v, default=str) if not isinstance(v, str) else v
        return text if len(text) <= 40 else text[:37] + "..."

    parts = [f"{k} ({have} {short(h)}, {want} {short(w)})" for k, h, w in diffs[:most]]
    if len(diffs) > most:
        parts.append(f"and {len(diffs) - most} more")
    return ", ".join(parts)


# -- configs and manifests ----------------------------------------------------------------------
def read_manifest(path: str | Path) -> dict[str, Any]:
    """A compare manifest (``OUT/manifest.json``); one :class:`FertkError` naming the file when
    it cannot be read, is not JSON or is not a fertk compare manifest."""
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


def load_configs(paths: list[str], overrides: list[str] | tuple[str, ...] = (),
                 context: Any = None) -> list[TrainConfig]:
    """Configs from files, or from a compare manifest (a single ``manifest.json``)."""
    if len(paths) == 1 and str(paths[0]).endswith(".json"):
        doc = read_manifest(paths[0])
        return [build_config(c, overrides, where=f"{paths[0]}:{name}", context=context)
                for name, c in doc["configs"].items()]
    if len(paths) < 1:
        raise FertkError("compare needs at least one CONFIG (two or more to compare)")
    cfgs = [load_config(p, overrides, context=context) for p in paths]
    seen: dict[str, int] = {}
    for c in cfgs:  # unique names
        if c.name in seen:
            seen[c.name] += 1
            c.name = f"{c.name}-{seen[c.name]}"
        else:
            seen[c.name] = 1
    return cfgs


def manifest_seeds(paths: list[str]) -> int | None:
    """The number of seeds a compare manifest recorded (None for config files)."""
    return _manifest_value(paths, "seeds")


def _manifest_value(paths: list[str], key: str) -> Any:
    if len(paths) == 1 and str(paths[0]).endswith(".json"):
        return read_manifest(paths[0]).get(key)
    return None


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


def _pick(names: Sequence[str], available: Sequence[str], flag: str) -> list[str]:
    """``names`` when each is an entry's name; else one line with close matches."""
    from fertk.registry import did_you_mean

    for name in names:
        if name not in available:
            hint = did_you_mean(name, available)[1]
            raise FertkError(f"{flag} {name}: no entry of that name.{hint} Entries (the configs' "
                             f"names): {', '.join(available)}")
    return list(names)


def parse_reuse(pairs: Sequence[str], available: Sequence[str]) -> dict[str, Path]:
    """``["lb_compact=runs/x"]`` → ``{"lb_compact": Path("runs/x")}``: the ``--reuse``
    values, each naming an entry once and an existing folder."""
    out: dict[str, Path] = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise FertkError(f"--reuse '{pair}': expected NAME=RUN, e.g. --reuse "
                             f"{available[0]}=runs/{available[0]}")
        _pick([name], available, "--reuse")
        if name in out:
            raise FertkError(f"--reuse {name}: given twice ({out[name]} and {path})")
        if not Path(path).expanduser().is_dir():
            raise FertkError(f"--reuse {name}={path}: no such run folder")
        out[name] = Path(path).expanduser()
    return out


# -- the data and split file every entry shares ----------------------------------------------------
class SharedProtocol:
    """The data and the split file of a comparison. The data is read only when something must
    be trained or the split file made; the split file (``OUT/splits.json``) is made once, from
    the first config's protocol, and records the data's hash and classes."""

    def __init__(self, base: TrainConfig, split_file: Path, data: Any = None, context: Any = None):
        self.base, self.split_file, self.context = base, split_file, context
        self._given = data
        self._ds: Any = None
        self._folds: list[Any] | None = None

    def data(self) -> Any:
        """The data set (an :class:`~fertk.training.arrays.ArraySet`), read on first use; one
        line when it is not the data the split file was made from."""
        if self._ds is None:
            from fertk.training.arrays import as_array_set, load_data

            self._ds = as_array_set(self._given if self._given is not None
                                    else load_data(self.base.data, self.base.run.progress, self.context))
            recorded = self.meta().get("data_hash") if self.split_file.exists() else None
            if recorded and recorded != self._ds.key:
                raise FertkError(f"{self.split_file} was made from other data (hash {recorded}; "
                                 f"this data {self._ds.key}); use another --out")
        return self._ds

    def meta(self) -> dict[str, Any]:
        from fertk.splits import splits_meta

        return splits_meta(self.split_file)

    def provenance(self, cfg: TrainConfig) -> tuple[str | None, str]:
        """The data hash of the split file and the digest of the folds ``cfg`` trains
        (``protocol.only_folds`` of them); the split file is made first when there is none."""
        from fertk.training.folds import load_splits, make_folds, save_splits, select_folds

        if self._folds is None:
            if not self.split_file.exists():
                ds = self.data()
                save_splits(self.split_file, make_folds(ds, self.base.protocol, self.base.run.seed),
                            {"protocol": self.base.protocol.kind, "data_hash": ds.key,
                             "classes": list(ds.classes)})
            self._folds = load_splits(self.split_file)
        return (self.meta().get("data_hash"),
                folds_digest(select_folds(self._folds, cfg.protocol.only_folds)))

    def classes(self) -> list[str] | None:
        """The data's classes, when known without reading the data (or it was read)."""
        if self._ds is not None:
            return list(self._ds.classes)
        if self.split_file.exists():
            return self.meta().get("classes")
        return None


# -- entries ----------------------------------------------------------------------------------
def seed_configs(cfg: TrainConfig, split_file: Path, seeds: int) -> list[TrainConfig]:
    """The config of each seed's run: the shared split file, seeds ``run.seed, run.seed + 1, …``."""
    out = []
    for i in range(seeds):
        c = copy.deepcopy(cfg)
        c.protocol.kind, c.protocol.splits = "splits", str(split_file.resolve())
        c.run.seed = cfg.run.seed + i
        out.append(c)
    return out


def read_entry(path: Path) -> dict[str, Any]:
    """A finished entry file (``OUT/entries/<name>.json``); one line when it is not one."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FertkError(f"{path}: cannot read the entry file ({exc}); delete it to train the "
                         "entry again") from None
    if not isinstance(doc, dict) or doc.get("format") != ENTRY_FORMAT or "seeds" not in doc:
        raise FertkError(f"{path}: not a fertk compare entry (format {ENTRY_FORMAT})")
    problem = _entry_problem(doc)
    if problem:
        raise FertkError(f"{path}: a damaged compare entry ({problem}); delete it to train the "
                         "entry again")
    return doc


def _entry_problem(doc: dict[str, Any]) -> str | None:
    """What in an entry's structure is not what :func:`build_entry` writes (None: nothing)."""
    for key, kind, noun in (("config", dict, "a mapping"), ("classes", list, "a list"),
                            ("cost", dict, "a mapping"), ("seeds", list, "a list")):
        if not isinstance(doc.get(key), kind):
            return f"'{key}' is not {noun}"
    if not doc["seeds"]:
        return "'seeds' is empty"
    for i, run in enumerate(doc["seeds"]):
        if not isinstance(run, dict):
            return f"'seeds[{i}]' is not a mapping"
        if not isinstance(run.get("seed"), int) or isinstance(run.get("seed"), bool):
            return f"'seeds[{i}].seed' is not an integer"
        stages = run.get("stages")
        if not isinstance(stages, dict) or not stages or not isinstance(run.get("folds"), list):
            return f"'seeds[{i}]' lacks its stages or folds"
        for name, stage in stages.items():
            per_fold = stage.get("per_fold") if isinstance(stage, dict) else None
            if not isinstance(per_fold, dict) or not all(isinstance(per_fold.get(m), list)
                                                         for m in METRICS):
                return f"'seeds[{i}].stages.{name}.per_fold' is not a list per metric"
    return None


def _entry_differences(entry: dict[str, Any], seed_cfgs: list[TrainConfig],
                       shared: SharedProtocol) -> list[tuple[str, Any, Any]]:
    have = Provenance(build_config(entry["config"], where="entry config", context=shared.context),
                      entry.get("data_hash"),
                      entry.get("folds"))
    diffs = provenance_differences(Provenance(seed_cfgs[0], *shared.provenance(seed_cfgs[0])), have)
    seeds = [c.run.seed for c in seed_cfgs]
    recorded = [int(s["seed"]) for s in entry["seeds"]]
    if recorded != seeds:
        diffs.append(("seeds", recorded, seeds))
    return diffs


def _run_json(path: Path, label: str, hint: str) -> Any:
    """A JSON file of a run folder; one line naming ``label`` when it cannot be read."""
    try:
        return read_json(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FertkError(f"{label}: cannot read {path.name} of the run ({exc}); {hint}") from None


def finished_run(run: Path, want: TrainConfig, shared: SharedProtocol, label: str,
                 hint: str) -> dict[str, Any]:
    """The record of a seed from the finished run folder ``run`` (its summary, per-item test
    predictions and training seconds), when the run stands for ``want``
    (:func:`provenance_differences`); else one line naming ``label``, the differing keys and
    ``hint``."""
    from fertk.training.folds import load_splits

    summary = _run_json(run / "summary.json", label, hint)
    run_cfg = saved_run_config(run, shared.context)
    if summary.get("config_digest") != run_cfg.digest():
        raise FertkError(f"{label}: its summary.json is not of its config.yaml (digest "
                         f"{summary.get('config_digest')}, config {run_cfg.digest()}); {hint}")
    if not (run / "splits.json").is_file():
        raise FertkError(f"{label}: the run folder has no splits.json; {hint}")
    have = Provenance(run_cfg, summary.get("data_hash"), folds_digest(load_splits(run / "splits.json")))
    diffs = provenance_differences(Provenance(want, *shared.provenance(want)), have)
    if diffs:
        raise FertkError(f"{label}: not the same protocol as entry '{want.name}': differs in "
                         f"{describe_differences(diffs, 'run', 'entry')}; {hint}")
    stages: dict[str, Any] = {}
    seconds: float | None = 0.0
    results = [_run_json(run / "folds" / fold / "result.json", label, hint)
               for fold in summary["folds"]]
    curves = []  # the selection split's accuracy after each epoch, one list per fold
    for res in results:
        history = (res.get("frame") or {}).get("history") or []
        times = [h.get("epoch_s") for h in history]
        seconds = None if seconds is None or None in times else seconds + sum(times)
        curves.append([h.get("val_acc") for h in history])
    for stage, st in summary["stages"].items():
        labels: list[int] = []
        predicted: list[int] = []
        for res in results:
            pred = (res.get(stage) or {}).get("predictions")
            if not pred:
                labels = []
                break
            labels += pred["labels"]
            predicted += pred["predicted"]
        stages[stage] = {"per_fold": st["per_fold"],
                         "predictions": {"labels": labels, "predicted": predicted} if labels else None}
    return {"seed": want.run.seed, "run": str(run.resolve()), "config_digest": summary["config_digest"],
            "folds": list(summary["folds"]), "classes": list(summary["classes"]), "stages": stages,
            "train_seconds": seconds, "val_curve": curves,
            "epochs_run": [(r.get("frame") or {}).get("epochs_run") for r in results],
            "best_epoch": [(r.get("frame") or {}).get("best_epoch") for r in results]}


def build_entry(cfg: TrainConfig, seed_cfgs: list[TrainConfig], shared: SharedProtocol,
                runs: Path, reuse: Path | None, may_train: bool, argv: list[str] | None,
                timing: bool) -> dict[str, Any] | None:
    """The entry of ``cfg`` from its seeds' finished runs, training (or resuming) those not
    finished when ``may_train``; None when a seed is neither finished nor to be trained."""
    from fertk.training.train import Trainer

    if reuse is not None and not (reuse / "config.yaml").is_file():
        raise FertkError(f"--reuse {cfg.name}={reuse}: no fertk train run there (no config.yaml)")
    reuse_seed = saved_run_config(reuse, shared.context).run.seed if reuse is not None else None
    seeds = [c.run.seed for c in seed_cfgs]
    records = []
    for c in seed_cfgs:
        # the seed the reused run was trained with; the first seed when it is none of them
        # (then its check names run.seed)
        explicit = reuse is not None and (reuse_seed == c.run.seed or (
            c is seed_cfgs[0] and reuse_seed not in seeds))
        run = reuse if explicit else runs / cfg.name / (f"seed{c.run.seed}" if len(seed_cfgs) > 1 else "")
        if explicit:
            label, hint = f"--reuse {cfg.name}={run}", "drop --reuse to train the entry"
        else:
            label, hint = str(run), "delete that run folder or use another --runs"
        if not (run / "summary.json").is_file():
            if explicit:
                raise FertkError(f"{label}: the run is not finished (no summary.json); finish it "
                                 f"with fertk train CONFIG --out {run} --resume")
            if not may_train:
                return None
            shared.provenance(c)  # the split file first (reads the data when there is none)
            Trainer(c, out=run, resume=run.exists(), data=shared.data(), argv=argv,
                    context=shared.context).run()
        records.append({**finished_run(run, c, shared, label, hint), "reused": explicit})
    data_hash, folds = shared.provenance(seed_cfgs[0])
    classes = records[0]["classes"]
    return {"format": ENTRY_FORMAT, "name": cfg.name, "backbone": cfg.model.backbone,
            "temporal": cfg.model.temporal, "config": seed_cfgs[0].to_dict(),
            "data_hash": data_hash, "folds": folds, "classes": classes,
            "selection": cfg.selection_label, "seeds": records,
            "cost": model_costs(seed_cfgs[0], len(classes), timing, shared.context)}


def model_costs(cfg: TrainConfig, num_classes: int, timing: bool = True,
                context: Any = None) -> dict[str, Any]:
    """Parameters, MACs per frame, input size and CPU batch-1 latency of the frame model (+
    head) in the form it is saved and deployed in (compact's ``batch_norm: fold`` folded)."""
    import os

    import torch

    from fertk.backbones.base import input_spec_of
    from fertk.models.cost import count_macs, count_params, example_input, measure_latency
    from fertk.training.fold_runner import build_backbone, build_head, deploy_form

    model, _ = deploy_form(build_backbone(cfg, num_classes, context).eval())
    model.eval()
    x = example_input(model, 1)
    out: dict[str, Any] = {"params": count_params(model), "macs": count_macs(model, x),
                           "input": list(input_spec_of(model)["input_size"]),
                           "classes": num_classes}
    if timing:
        with torch.no_grad():
            lat = measure_latency(model, x, iters=15, max_seconds=2.0)
        out["latency_ms"] = lat["median_ms"]
        out["latency_range_ms"] = [round(lat["min_ms"], 4), round(lat["p90_ms"], 4)]
        out["threads"] = torch.get_num_threads()
        if hasattr(os, "getloadavg"):
            out["load_average"] = round(os.getloadavg()[0], 2)
    if cfg.model.temporal and cfg.sequence.enabled:
        dim = num_classes if cfg.sequence.input_kind == "probs" else int(model.feature_dim)
        head, _ = build_head(cfg, num_classes, dim, context)
        out["head_params"] = count_params(head)
        out["head_macs"] = count_macs(head.eval(), example_input(head, 1))
    return out


# -- the comparison -------------------------------------------------------------------------------
def compare(paths: list[str], out: str | Path, overrides: list[str] | tuple[str, ...] = (),
            data: Any = None, argv: list[str] | None = None, timing: bool = True,
            seeds: int | None = None, runs: str | Path | None = None,
            reuse: Sequence[str] = (), only: Sequence[str] = (), train: bool = True,
            retime: bool = False, context: Any = None) -> dict[str, Any]:
    """Build (train, resume, reuse or read) every entry and write the comparison.

    ``seeds`` trains each configuration with seeds ``run.seed, run.seed + 1, ...`` on the same
    split (default 1, or what a re-run manifest recorded). ``runs``: the folder of the run
    folders (default ``OUT/runs``, or the manifest's). ``reuse``: ``NAME=RUN`` values (a
    finished ``fertk train`` run folder standing for entry NAME's run). ``only``: train only
    these entries; ``train=False``: train none. Entries neither finished nor trained are rows
    "not run". ``retime``: measure the latency of finished entries again. ``context``: the
    plugin context whose registries build every component (default: the default one).
    """
    out = Path(out)
    cfgs = load_configs(list(paths), overrides, context)
    if seeds is None:
        seeds = int(manifest_seeds(paths) or 1)
    if seeds < 1:
        raise FertkError(f"--seeds must be at least 1 (got {seeds})")
    if only and not train:
        raise FertkError("--entry and --no-train: --entry trains the entries it names, "
                         "--no-train none; give one of them")
    names = [c.name for c in cfgs]
    to_train = set(_pick(only, names, "--entry")) if only else set(names) if train else set()
    reuse_runs = parse_reuse(reuse, names)
    runs_dir = Path(runs or _manifest_value(paths, "runs") or out / "runs").expanduser()
    _check_same_protocol(cfgs)
    with folder_lock(out, "--out"):  # one writer per OUT: entries, split file, tables
        shared = SharedProtocol(cfgs[0], out / "splits.json", data, context)
        entries: dict[str, dict[str, Any] | None] = {}
        resolved: dict[str, Any] = {}
        for cfg in cfgs:
            seed_cfgs = seed_configs(cfg, shared.split_file, seeds)
            resolved[cfg.name] = seed_cfgs[0].to_dict()
            entry_file = out / "entries" / f"{cfg.name}.json"
            if entry_file.exists():
                entry = read_entry(entry_file)
                diffs = _entry_differences(entry, seed_cfgs, shared)
                if diffs:
                    raise FertkError(f"{entry_file}: a finished entry of another config: differs in "
                                     f"{describe_differences(diffs, 'entry file', 'config')}; delete "
                                     f"it to train '{cfg.name}' again, or use another --out")
                if cfg.name in reuse_runs:
                    print(f"fertk: {cfg.name}: finished already ({entry_file}); --reuse not used",
                          file=sys.stderr)
                if timing and (retime or entry["cost"].get("latency_ms") is None):
                    entry["cost"] = model_costs(seed_cfgs[0], len(entry["classes"]), timing, context)
                    write_json(entry_file, entry, indent=1)
            else:
                entry = build_entry(cfg, seed_cfgs, shared, runs_dir, reuse_runs.get(cfg.name),
                                    cfg.name in to_train, argv, timing)
                if entry is not None:
                    write_json(entry_file, entry, indent=1)
            entries[cfg.name] = entry
        finished = [e for e in entries.values() if e is not None]
        classes = finished[0]["classes"] if finished else shared.classes()
        result = _tabulate(cfgs, entries, len(classes) if classes else DEFAULT_CLASSES, timing, context)
        result["selection"] = cfgs[0].selection_label
        result["splits"] = str(shared.split_file)
        result["seeds"] = seeds
        result["classes_known"] = classes is not None
        _write(out, result)
        from fertk.training.manifest import build_manifest

        rerun = f"fertk compare {out / 'manifest.json'}" + (f" --seeds {seeds}" if seeds > 1 else "") \
            + (f" --runs {runs_dir}" if runs_dir != out / "runs" else "")
        write_json(out / "manifest.json", build_manifest(
            configs=resolved,
            data_hash=shared.meta().get("data_hash") if shared.split_file.exists() else None,
            split_files=[shared.split_file], argv=argv if argv is not None else list(sys.argv),
            extra={"format": MANIFEST_FORMAT, "rerun": rerun, "seeds": seeds, "runs": str(runs_dir),
                   "selection": cfgs[0].selection_label,
                   "finished": [n for n, e in entries.items() if e is not None]},
        ))
        return result


def expected_stages(cfg: TrainConfig) -> list[str]:
    """The stages a config trains: frame, and sequence with a temporal head."""
    return ["frame", "sequence"] if cfg.model.temporal and cfg.sequence.enabled else ["frame"]


def mean_curve(curves: list[list[float | None]]) -> list[float | None]:
    """Epoch by epoch mean of several runs' curves (seeds, folds), over the runs that have a
    value at that epoch (an early-stopped run is shorter); None where none has."""
    out: list[float | None] = []
    for i in range(max((len(c) for c in curves), default=0)):
        vals = [c[i] for c in curves if i < len(c) and c[i] is not None]
        out.append(sum(vals) / len(vals) if vals else None)
    return out


def _tabulate(cfgs: list[TrainConfig], entries: dict[str, dict[str, Any] | None], k: int,
              timing: bool, context: Any = None) -> dict[str, Any]:
    import numpy as np

    from fertk.training.stats import bootstrap, mcnemar, paired_bootstrap

    rows: list[dict[str, Any]] = []
    boots: dict[tuple[str, str], dict[str, Any]] = {}
    preds: dict[tuple[str, str], list] = {}
    for cfg in cfgs:
        entry = entries[cfg.name]
        if entry is None:
            cost = model_costs(cfg, k, timing, context)
            for stage in expected_stages(cfg):
                seq = stage == "sequence"
                rows.append({"config": cfg.name, "stage": stage, "backbone": cfg.model.backbone,
                             "temporal": cfg.model.temporal if seq else None, "status": NOT_RUN,
                             "params": cost["params"] + (cost.get("head_params", 0) if seq else 0),
                             "macs": cost["macs"] + (cost.get("head_macs", 0) if seq else 0),
                             "input": cost["input"], "latency_ms": cost.get("latency_ms")})
            continue
        seed_runs, cost = entry["seeds"], entry["cost"]
        seconds = [r.get("train_seconds") for r in seed_runs]
        for stage in seed_runs[0]["stages"]:
            seq = stage == "sequence"
            per_seed = [r["stages"][stage]["per_fold"] for r in seed_runs if stage in r["stages"]]
            per_fold = {m: np.mean([ps[m] for ps in per_seed], axis=0).tolist() for m in METRICS}
            row = {"config": cfg.name, "stage": stage, "backbone": cfg.model.backbone,
                   "temporal": cfg.model.temporal if seq else None, "status": "finished",
                   "folds": len(seed_runs[0]["folds"]), "seeds": len(per_seed), "per_fold": per_fold,
                   "per_seed": {m: [float(np.mean(ps[m])) for ps in per_seed] for m in METRICS},
                   "params": cost["params"] + (cost.get("head_params", 0) if seq else 0),
                   "macs": cost["macs"] + (cost.get("head_macs", 0) if seq else 0),
                   "input": cost.get("input"), "latency_ms": cost.get("latency_ms"),
                   "latency_range_ms": cost.get("latency_range_ms"),
                   "load_average": cost.get("load_average"),
                   "train_minutes": sum(seconds) / 60 if None not in seconds else None}
            curves = [c for r in seed_runs for c in r.get("val_curve") or []]
            if stage == "frame" and curves:  # entries written before curves were kept have none
                row["val_curve"] = mean_curve(curves)
            for m in METRICS:
                row[m] = dict(zip(("mean", "std"), mean_std(per_fold[m]), strict=True))
                row[m]["seed_std"] = mean_std(row["per_seed"][m])[1]
            pr = [r["stages"][stage].get("predictions") for r in seed_runs]
            if all(pr):
                pairs = [(p["labels"], p["predicted"]) for p in pr]
                preds[(cfg.name, stage)] = pairs
                boots[(cfg.name, stage)] = bootstrap(pairs, k, seed=0)
                row["ci95"] = {m: {"lo": boots[(cfg.name, stage)][m]["lo"],
                                   "hi": boots[(cfg.name, stage)][m]["hi"]} for m in METRICS}
                row["test_items"] = len(pairs[0][0])
            rows.append(row)
    base = cfgs[0].name
    tests = []
    for row in rows:
        if row["config"] == base or row["status"] != "finished":
            continue
        key, ref_key = (row["config"], row["stage"]), (base, row["stage"])
        ref = next((r for r in rows if r["config"] == base and r["stage"] == row["stage"]
                    and r["status"] == "finished"), None)
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
    return {"baseline": base, "classes": k, "rows": rows, "paired_tests": tests}


def _ci(r: dict[str, Any], m: str) -> str:
    ci = (r.get("ci95") or {}).get(m)
    return f"[{100 * ci['lo']:.2f}, {100 * ci['hi']:.2f}]" if ci else ""


def _value(values: Sequence[float]) -> str:
    """A metric cell: the value of one run, mean ± std of several."""
    if len(values) == 1 and values[0] == values[0]:
        return f"{100 * values[0]:.2f}"
    return format_mean_std(values)


#: Columns of ``compare.md`` / ``compare.csv`` (the leaderboard's table in docs/benchmarks.md).
COLUMNS = ["config", "stage", "backbone", "temporal", "folds", "seeds", "params", "MMACs/frame",
           "input", "CPU latency ms", "accuracy %", "accuracy 95% CI", "UAR %", "UAR 95% CI",
           "macro-F1 %", "macro-F1 95% CI", "train min"]


def _spread(result: dict[str, Any]) -> str:
    done = [r for r in result["rows"] if r["status"] == "finished"]
    return "std over seeds" if all(r["folds"] == 1 for r in done) else "std over folds"


def table_rows(result: dict[str, Any]) -> tuple[list[list[Any]], list[list[Any]]]:
    """``(text rows, csv rows)`` of the comparison's main table (:data:`COLUMNS`): one per
    config and stage; the text rows are what ``compare.md`` and the terminal show."""
    def cell(r: dict[str, Any], m: str) -> str:
        return _value(r["per_fold"][m] if r["folds"] > 1 else r["per_seed"][m])

    md_rows, csv_rows = [], []
    for r in result["rows"]:
        lat = f"{r['latency_ms']:.2f}" if r.get("latency_ms") is not None else ""
        size = "×".join(map(str, r["input"])) if r.get("input") else ""
        head = [r["config"], r["stage"], r["backbone"], r["temporal"] or ""]
        if r["status"] != "finished":
            md_rows.append([*head, "", "", f"{r['params']:,}", f"{r['macs'] / 1e6:.1f}", size, lat,
                            NOT_RUN, "", "", "", "", "", ""])
            csv_rows.append([*head, "", "", r["params"], r["macs"], size, r.get("latency_ms"),
                             NOT_RUN, "", "", "", "", "", ""])
            continue
        cells = [x for m in METRICS for x in (cell(r, m), _ci(r, m))]
        minutes = r.get("train_minutes")
        md_rows.append([*head, r["folds"], r["seeds"], f"{r['params']:,}", f"{r['macs'] / 1e6:.1f}",
                        size, lat, *cells, f"{minutes:.1f}" if minutes is not None else ""])
        csv_rows.append([*head, r["folds"], r["seeds"], r["params"], r["macs"], size,
                         r.get("latency_ms"), *cells, minutes])
    return md_rows, csv_rows


#: Columns of the tests against the baseline.
TEST_COLUMNS = ["config vs baseline", "stage", "metric", "mean diff (pp)", "paired t p",
                "Wilcoxon p", "bootstrap diff 95% CI (pp)", "bootstrap p", "McNemar p"]


def baseline_test_rows(result: dict[str, Any]) -> list[list[str]]:
    """The rows of the tests against the baseline (:data:`TEST_COLUMNS`)."""
    t_rows = []
    for t in result["paired_tests"]:
        bs = t.get("bootstrap") or {}
        diff = t.get("mean_difference", bs.get("mean_difference"))
        t_rows.append([f"{t['config']} vs {t['baseline']}", t["stage"], t["metric"],
                       f"{100 * diff:+.2f}" if diff is not None else "",
                       _p(t.get("t_pvalue")), _p(t.get("wilcoxon_pvalue")),
                       f"[{100 * bs['lo']:+.2f}, {100 * bs['hi']:+.2f}]" if bs else "",
                       _p(bs.get("pvalue")), _p((t.get("mcnemar") or {}).get("pvalue"))])
    return t_rows


def _write(out: Path, result: dict[str, Any]) -> None:
    seeds = int(result.get("seeds", 1))
    done = [r for r in result["rows"] if r["status"] == "finished"]
    spread = _spread(result)
    md_rows, csv_rows = table_rows(result)
    t_cols, t_rows = TEST_COLUMNS, baseline_test_rows(result)
    missing = [r["config"] for r in result["rows"] if r["status"] != "finished"]
    md = ["# Comparison", "", f"- model selection: **{result['selection']}**",
          f"- split file: `{result['splits']}` " + ("(every configuration uses the same folds)"
                                                    if Path(result["splits"]).exists()
                                                    else "(not made yet: nothing trained)"),
          f"- seeds per configuration: {seeds}; values: mean ± {spread} (sample std; one run: "
          "its value)",
          "- 95% CI: percentile bootstrap over test items (2,000 resamples; metric averaged over "
          "seeds), pooled over folds",
          "- cost: the deployed model's parameters and multiply-accumulates per frame at its "
          "input size; CPU latency: eager fp32, batch 1, median (measured when the entry "
          "finished; its entry file records the threads and load average); train min: the "
          "frame stage's epochs, all seeds and folds"]
    if missing:
        md.append(f"- not run yet: {', '.join(dict.fromkeys(missing))}"
                  + ("" if result.get("classes_known", True)
                     else f" (their cost at {result['classes']} classes)"))
    md += ["", table_markdown(COLUMNS, md_rows), ""]
    if t_rows:
        md += ["## Tests against the baseline", "",
               "Paired t / Wilcoxon over folds (need two or more folds: n/a otherwise); paired "
               "bootstrap over the "
               "same test items; McNemar on per-item correctness (first seed).", "",
               table_markdown(t_cols, t_rows), ""]
    curved = [r for r in done if r.get("val_curve")]
    if curved:
        n = max(len(r["val_curve"]) for r in curved)
        md += ["## Selection accuracy by epoch", "",
               f"Accuracy % on the split the epoch is selected on ({result['selection']}) after "
               "each epoch of the frame stage (mean over seeds and folds):", "",
               table_markdown(["config", *map(str, range(1, n + 1))],
                              [[r["config"], *(f"{100 * v:.1f}" if v is not None else ""
                                               for v in r["val_curve"] + [None] * (n - len(r["val_curve"])))]
                               for r in curved]), ""]
    names = [f"{r['config']}/{r['stage']}" for r in done]
    if done:
        md += ["![comparison](compare.png)", ""]
    timed = [r for r in done if r.get("latency_ms")]
    if len(timed) >= 2:
        result["pareto"] = [timed[i]["config"] + "/" + timed[i]["stage"] for i in pareto_front(
            [r["latency_ms"] for r in timed], [r["accuracy"]["mean"] for r in timed])]
        md += [f"Pareto frontier (accuracy against CPU latency): {', '.join(result['pareto'])}", "",
               "![accuracy against CPU latency](pareto.png)", ""]
    (out / "compare.md").write_text("\n".join(md), encoding="utf-8")
    write_table_csv(out / "compare.csv", COLUMNS, csv_rows)
    write_json(out / "compare.json", result)
    for stale, drawn in (("compare.png", bool(done)), ("pareto.png", len(timed) >= 2)):
        if not drawn:  # a plot of an earlier table must not sit next to this one
            (out / stale).unlink(missing_ok=True)
    if done:
        points = {m: [r["per_fold"][m] if r["folds"] > 1 else r["per_seed"][m] for r in done]
                  for m in METRICS}
        plot_comparison(out / "compare.png", names, points,
                        title=f"selection: {result['selection']}; points: "
                              + ("folds" if spread.endswith("folds") else "seeds"))
    if len(timed) >= 2:
        ci = [(r.get("ci95") or {}).get("accuracy") for r in timed]
        have_ci = all(c is not None for c in ci)
        spans = [r.get("latency_range_ms") for r in timed]
        plot_pareto(out / "pareto.png", [r["config"] for r in timed],
                    [r["latency_ms"] for r in timed], [r["accuracy"]["mean"] for r in timed],
                    [c["lo"] for c in ci] if have_ci else None, [c["hi"] for c in ci] if have_ci else None,
                    title="accuracy (95% bootstrap interval) against CPU batch-1 latency",
                    stages=[r["stage"] for r in timed],
                    cost_range=spans if all(spans) else None, note=latency_note(timed))


def latency_note(rows: list[dict[str, Any]]) -> str:
    """What the latencies of ``rows`` are worth: measured once per entry, on a machine whose
    load (when recorded) is said; a difference smaller than the spread of the calls, or than
    what another load could make, is noise, not a difference between the models."""
    loads = [r["load_average"] for r in rows if r.get("load_average") is not None]
    where = (f"at load averages {min(loads):.1f} to {max(loads):.1f}" if loads and
             max(loads) > min(loads) else f"at load average {loads[0]:.1f}" if loads else
             "load not recorded")
    bars = " (bars: fastest to 90th-percentile call)" if all(
        r.get("latency_range_ms") for r in rows) else ""
    return (f"latency: median of one measurement per entry{bars}, {where}; a latency "
            "difference under about 1.5x can be the machine's load, not the models")


def _p(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "n/a"
    return f"{v:.3g}"
