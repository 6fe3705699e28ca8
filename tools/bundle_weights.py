"""Package FER2013 and FER+ ``fertk train`` runs as bundled weights (``fertk/assets/``), with provenance.

    python tools/bundle_weights.py FRAME_RUN NAME [--sequence SEQ_RUN] \\
        --crop '{"name": "landmark", "options": {"alpha": 1.48, "shift": -0.07}}' --detector dlib

``FRAME_RUN`` is a ``fertk train`` run of a FER2013 or FER+ recipe
(``examples/configs/fer2013_*.yaml``, ``ferplus_*.yaml``; protocol ``standard``); ``SEQ_RUN`` optionally a run that trained a temporal head on it
(``model.init_from`` the frame checkpoint, ``frame.enabled: false``, ``sequence.source:
stills``); the bundled checkpoint then holds both. A ``FRAME_RUN`` that continued another
run's model (``model.init_from`` its ``folds/standard/frame``) brings that run's record too
(``train.frame_run.continued_from``). The metadata keeps the recipes (each run's
config.yaml and command), seed, data set, split, selection, epochs, training time, the
head's results against ``average``/``last`` and the source's sha256; ``crop``/``detector``
become the run-time preprocessing for detected faces (``tools/calibrate_fer_crop.py``), while
``train.preprocessing`` keeps the training data's. Metrics and cost are then measured for every
bundled model in one run by ``benchmarks/bench_fer2013.py --write`` (FER2013 models) and
``benchmarks/bench_ferplus.py --write`` (FER+ models, and every model's FER+ figures). Prints the sha256 to pin in
``fertk.weights.BUNDLED``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from fertk.checkpoint import load_checkpoint, save_checkpoint, sha256_file
from fertk.weights import ASSETS_DIR

#: what the bundled checkpoint says of its training data, by ``train.dataset``
DATA = {
    "fer2013": ("FER2013", "PublicTest",
                "weights: MIT, like fertk; trained on FER2013, whose images are for research use"),
    "ferplus": ("FER+ (FER2013's faces, ten annotators' votes)", "FER+ Valid (PublicTest)",
                "weights: MIT, like fertk; trained on FER2013's images (for research use) with the "
                "FER+ votes (microsoft/FERPlus, MIT)"),
}


def run_record(run: Path, stage: str) -> dict[str, Any]:
    """What a run says of itself: config, command, epochs or iterations, seconds, results."""
    result = json.loads((run / "folds" / "standard" / "result.json").read_text())
    manifest = json.loads((run / "manifest.json").read_text())
    part = result[stage] or {}
    hist = part.get("history") or []
    train_s = sum(float(h.get("train_s", 0.0)) for h in hist)
    # the sequence stage's wall time includes running the frozen frame model over the tracks
    wall_s = sum(float(h.get("epoch_s", h.get("train_s", 0.0))) for h in hist) + float(part.get("inputs_s", 0.0))
    rec = {"config": (run / "config.yaml").read_text(encoding="utf-8"),
           "command": " ".join(manifest.get("command") or manifest.get("argv") or []),
           "train_seconds": round(train_s, 1), "wall_seconds": round(wall_s, 1)}
    if stage == "frame":
        rec.update(best_epoch=part.get("best_epoch"), epochs_run=part.get("epochs_run"))
    else:
        rec.update(best_iteration=part.get("best_iteration"), iterations=part.get("iterations"),
                   sequences=part.get("sequences"), source=part.get("source"),
                   test={"gru": {k: part["test"][k] for k in ("accuracy", "uar", "macro_f1")},
                         **(part.get("baselines") or {})})
    return rec


def source_runs(init_from: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The records of the runs a frame model was continued from (``model.init_from`` a run's
    ``folds/standard/frame`` checkpoint, followed through the source's own ``init_from``):
    their commands and minutes belong to the model's training too."""
    out = []
    while init_from:
        path = Path(init_from.get("path") or "")
        run = path.parents[2] if len(path.parents) > 2 else None
        if run is None or not (run / "manifest.json").is_file() or path.parent.name != "standard":
            break
        out.append({**run_record(run, "frame"), "sha256": init_from.get("sha256")})
        init_from = init_from.get("lineage")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("name")
    ap.add_argument("--sequence", type=Path, default=None, help="run that trained a head on RUN's model")
    ap.add_argument("--crop", default=None, help="run-time crop as JSON {name, options}")
    ap.add_argument("--detector", default=None, help="run-time detector (e.g. dlib)")
    ap.add_argument("--description", default=None)
    args = ap.parse_args()

    frame_src = args.run / "folds" / "standard" / "frame"
    src = args.sequence / "folds" / "standard" / "sequence" if args.sequence else frame_src
    ckpt = load_checkpoint(src)
    meta = dict(ckpt.metadata)
    train = dict(load_checkpoint(frame_src).metadata.get("train") or {})
    train.pop("test_subjects", None)
    data_name, val_name, licence = DATA[str(train.get("dataset") or "fer2013")]
    train.update({"selection": f"best {val_name} accuracy (epoch)", "frame_run": run_record(args.run, "frame"),
                  "frame_sha256": sha256_file(str(frame_src) + ".safetensors")})
    sources = source_runs(train.get("init_from"))
    if sources:  # a continued run: every run of its lineage, the nearest first
        train["frame_run"]["continued_from"] = sources
    if args.sequence:
        train["sequence_run"] = run_record(args.sequence, "sequence")
        train["sequence_run"]["init_from"] = (meta.get("train") or {}).get("init_from")
    if args.crop:
        meta["crop"] = json.loads(args.crop)
    if args.detector:
        meta["detector"] = args.detector
    name = meta["backbone"]["name"] + (f" + {meta['temporal']['name']}" if meta.get("temporal") else "")
    meta.update({
        "description": args.description or f"{name} trained by fertk on {data_name}",
        "train": train,
        "licence": licence,
        "source": "fertk train (tools/bundle_weights.py)",
    })
    for key in ("sha256", "parts", "metrics", "cost"):
        meta.pop(key, None)
    dest = ASSETS_DIR / args.name.replace("-", "_")
    save_checkpoint(dest, dict(ckpt.state_dicts), meta)
    print(json.dumps({"name": args.name, "asset": str(dest),
                      "sha256": sha256_file(str(dest) + ".safetensors")}, indent=1))


if __name__ == "__main__":
    main()
