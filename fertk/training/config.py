"""Training configuration: dataclasses, the ``paper`` and ``default`` presets, file loading.

A config file (YAML or TOML) names a preset and overrides any field::

    preset: default            # or: paper
    name: ck_compact
    data: {dataset: ckplus, root: /data/CK+, options: {mode: sequence}}
    model: {backbone: compact, temporal: gru}
    frame: {epochs: 60}

Command-line overrides use dotted keys: ``--set frame.epochs=5 --set model.temporal=null``
(values are parsed as YAML scalars/lists). Unknown keys are user errors naming the key.

Presets:

- ``paper``: Kuo et al. 2018 section 3.4: Xavier init, SGD momentum 0.9, lr 0.001,
  weight decay 0.001, constant rate, up to 2,000 epochs (an upper bound; validation-based
  early stopping with ``patience`` ends it earlier), random 96 shift + flip; GRU stage:
  Adam lr 0.01, batch 48, 10,000 iterations, T = 9, mirror + random-crop augmentation.
- ``default``: fertk's recipe: AdamW lr 0.002, weight decay 0.05, cosine schedule with one
  warm-up epoch, label smoothing 0.1, the paper's illumination "Aug" scheme (train on HE,
  LM and WS copies, test with HE), shift + flip + small rotation/scale, 120 epochs with
  patience 30; GRU stage: AdamW lr 0.005, 2,000 iterations with cosine decay, validation
  checks every 100 iterations. See docs/training.md for why and for the comparison.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fertk.errors import FertkError

SELECTIONS = ("validation", "test-fold")
PROTOCOL_KINDS = ("subject_kfold", "loso", "leave_one_set_out", "splits", "standard")
#: Label printed in every report when the paper's optimistic selection is used.
TEST_FOLD_LABEL = "test-fold (optimistic, paper)"


@dataclass
class DataConfig:
    """Where the data comes from; ``sets`` lists several data sets (leave-one-set-out)."""

    dataset: str | None = None
    root: str | None = None
    detector: str | None = None  # None: the data set's default (dlib; none for FER2013)
    crop: str | None = None  # None: landmark (box with detector none)
    detector_options: dict[str, Any] = field(default_factory=dict)
    crop_options: dict[str, Any] = field(default_factory=dict)
    cache_dir: str | None = None
    workers: int = 2
    options: dict[str, Any] = field(default_factory=dict)
    sets: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ProtocolConfig:
    """How subjects are split. ``kind``: subject_kfold, loso, leave_one_set_out, splits, standard.

    ``standard``: the data set's own fixed split (FER2013): train on ``standard_train``, select
    on ``standard_val``, report on ``standard_test`` (``val_fraction`` is not used).
    """

    kind: str = "subject_kfold"
    folds: int = 10
    val_fraction: float = 0.1
    selection: str = "validation"
    only_folds: list[int] | None = None
    splits: str | None = None
    standard_train: str = "Training"
    standard_val: str = "PublicTest"
    standard_test: str = "PrivateTest"


@dataclass
class ModelConfig:
    backbone: str = "compact"
    backbone_options: dict[str, Any] = field(default_factory=dict)
    temporal: str | None = "gru"
    temporal_options: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None  # registered weight name or checkpoint: initial backbone tensors
    # distillation (fertk.training.distill): trained checkpoints whose averaged distributions
    # are mixed into the frame stage's targets with weight frame.distill
    teachers: list[str] = field(default_factory=list)


@dataclass
class AugmentConfig:
    """Training-time augmentation: registered augmentations (``fertk list augmentations``).

    ``geometric``: an augmentation of kind ``geometric`` (or ``none``: the centre crop), built
    with the crop window and input size of the backbone, the options ``shift``, ``flip``,
    ``rotate``, ``scale`` that it declares, and ``geometric_options``; a plugin's trains like a
    built-in one. ``illumination``: an augmentation of kind ``illumination`` (with
    ``illumination_options``): a normalisation (``he``, ``lm``, ``ws``, ``none``) is applied
    to training and test images alike; a training scheme (one with ``expand``, the paper's
    ``aug``: HE, LM and WS copies of every image) trains on its copies and tests with
    ``test_illumination``. ``camera``: an augmentation of kind ``camera`` (``blur``, ``noise``,
    ``jpeg``, ``downup``, ``camera``; default ``none``) with ``camera_options``, applied to
    training batches after the geometric one (never at test time).
    """

    geometric: str = "geometric"
    geometric_options: dict[str, Any] = field(default_factory=dict)
    shift: bool = True
    flip: bool = True
    rotate: float = 0.0
    scale: float = 0.0
    illumination: str = "none"
    illumination_options: dict[str, Any] = field(default_factory=dict)
    test_illumination: str = "none"
    camera: str = "none"
    camera_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class FrameStageConfig:
    """Stage 1: the frame CNN on (by default) the peak frame of each sequence."""

    enabled: bool = True
    frames: str = "peak"  # peak | all | last:K
    epochs: int = 2000
    batch_size: int = 64
    optimizer: str = "sgd"  # sgd | adam | adamw
    lr: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 0.001
    scheduler: str = "constant"  # constant | cosine | step
    warmup_epochs: int = 0
    label_smoothing: float = 0.0
    init: str = "xavier"  # xavier | default
    patience: int = 100
    eval_every: int = 1
    # batch norm: running statistics recomputed over this many training batches before each
    # validation (0: off); see fertk.training.batchnorm
    precise_bn: int = 32
    # weight EMA: decay per optimiser step of an average of the weights that is validated,
    # selected and saved (0: off); see fertk.training.ema
    ema: float = 0.0
    # rare classes (see fertk.training.losses): none | inverse | sqrt class weights, and the
    # logit-adjusted loss's tau (0: off)
    class_balance: str = "none"
    logit_adjust: float = 0.0
    # distillation: the teachers' (model.teachers) share of the target, their temperature
    distill: float = 0.0
    distill_temperature: float = 1.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # fine-tuning (see fine_tune_plan): features frozen for N epochs | features | none | auto
    freeze: str | int = "auto"
    lr_backbone: str | float = "auto"  # learning rate of everything but the classifier


@dataclass
class SequenceStageConfig:
    """Stage 2: the temporal head on the frozen frame model's per-frame outputs."""

    enabled: bool = True
    seq_len: int = 9
    input_kind: str = "probs"  # probs | features
    iterations: int = 10000
    batch_size: int = 48
    optimizer: str = "adam"
    lr: float = 0.01
    weight_decay: float = 0.0
    scheduler: str = "constant"
    label_smoothing: float = 0.0
    eval_every: int = 250
    views: int = 4  # augmented views (center, mirror, random shifts) precomputed per frame
    source: str = "sequences"  # sequences | stills (synthetic tracks, fertk.training.tracks)
    tracks: int | None = None  # stills: at most this many training stills (None: all)
    onset: float = 0.5  # stills: share of tracks that start from a neutral still


@dataclass
class RunConfig:
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str = "auto"  # auto (bf16 on CUDA) | bf16 | fp16 | off
    channels_last: str = "auto"  # auto (CUDA; CPU where the backbone registers it) | on | off
    compile: bool = False
    deterministic: bool = True
    progress: bool = True
    out: str | None = None
    checkpoint_every: int = 1  # epochs between trainer-state saves (resume points)
    stop_after_epochs: int | None = None  # testing hook: exit as if killed after N epochs


@dataclass
class TrainConfig:
    preset: str = "default"
    name: str = "run"
    data: DataConfig = field(default_factory=DataConfig)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    frame: FrameStageConfig = field(default_factory=FrameStageConfig)
    sequence: SequenceStageConfig = field(default_factory=SequenceStageConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """Hash of everything that changes results (not output paths, progress or hooks)."""
        d = self.to_dict()
        for key in ("out", "progress", "stop_after_epochs", "checkpoint_every"):
            d["run"].pop(key, None)
        for key in ("freeze", "lr_backbone"):  # added later: at their default, the digests of
            if d["frame"].get(key) == "auto":  # earlier runs stay valid (--resume, compare reuse)
                d["frame"].pop(key)
        for key, default in (("ema", 0.0), ("class_balance", "none"), ("logit_adjust", 0.0),
                             ("distill", 0.0), ("distill_temperature", 1.0)):
            if d["frame"].get(key) == default:  # likewise
                d["frame"].pop(key)
        if d["model"].get("teachers") == []:
            d["model"].pop("teachers")
        aug = d["frame"]["augment"]
        for key, default in (("geometric", "geometric"), ("geometric_options", {}),
                             ("illumination_options", {}), ("camera", "none"),
                             ("camera_options", {})):  # likewise
            if aug.get(key) == default:
                aug.pop(key)
        blob = json.dumps(d, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @property
    def selection_label(self) -> str:
        if self.protocol.selection == "test-fold":
            return TEST_FOLD_LABEL
        if self.protocol.kind == "standard":  # the data set's own validation split
            return f"the data set's validation split ({self.protocol.standard_val})"
        return "validation subjects (from the training folds)"


PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "frame": {
            "epochs": 2000, "batch_size": 64, "optimizer": "sgd", "lr": 0.001, "momentum": 0.9,
            "weight_decay": 0.001, "scheduler": "constant", "warmup_epochs": 0,
            "label_smoothing": 0.0, "init": "xavier", "patience": 100,
            "augment": {"shift": True, "flip": True, "rotate": 0.0, "scale": 0.0,
                        "illumination": "none", "test_illumination": "none"},
        },
        "sequence": {
            "seq_len": 9, "iterations": 10000, "batch_size": 48, "optimizer": "adam",
            "lr": 0.01, "weight_decay": 0.0, "scheduler": "constant", "label_smoothing": 0.0,
            "eval_every": 250, "views": 4,
        },
    },
    "default": {
        "frame": {
            "epochs": 120, "batch_size": 64, "optimizer": "adamw", "lr": 0.002, "momentum": 0.9,
            "weight_decay": 0.05, "scheduler": "cosine", "warmup_epochs": 1,
            "label_smoothing": 0.1, "init": "xavier", "patience": 30,
            "augment": {"shift": True, "flip": True, "rotate": 10.0, "scale": 0.1,
                        "illumination": "aug", "test_illumination": "he"},
        },
        "sequence": {
            "seq_len": 9, "iterations": 2000, "batch_size": 48, "optimizer": "adamw",
            "lr": 0.005, "weight_decay": 0.01, "scheduler": "cosine", "label_smoothing": 0.0,
            "eval_every": 100, "views": 4,
        },
    },
}


# -- building from dicts ------------------------------------------------------------------
def _from_dict(cls: type, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise FertkError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            import difflib

            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise FertkError(f"{where}: unknown key '{key}'{hint}; known: {', '.join(fields)}")
        sub = _dataclass_type(cls, key)
        if sub is not None:  # a section: a mapping (``--set frame=1`` is one error)
            kwargs[key] = _from_dict(sub, value, f"{where}.{key}")
        else:
            kwargs[key] = value
    return cls(**kwargs)


_NESTED = {
    (TrainConfig, "data"): DataConfig,
    (TrainConfig, "protocol"): ProtocolConfig,
    (TrainConfig, "model"): ModelConfig,
    (TrainConfig, "frame"): FrameStageConfig,
    (TrainConfig, "sequence"): SequenceStageConfig,
    (TrainConfig, "run"): RunConfig,
    (FrameStageConfig, "augment"): AugmentConfig,
}


def _dataclass_type(cls: type, key: str) -> type | None:
    return _NESTED.get((cls, key))


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` merged into a copy of ``base`` (dicts recursively, everything else replaced).

    Free-form option dicts (``*options``) are merged too, so an override adds one option.
    """
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> dict[str, Any]:
    """``"frame.epochs=5"`` → ``{"frame": {"epochs": 5}}``: one ``--set``, parsed like every
    ``KEY=VALUE`` option (:func:`fertk.clitools.parse_options`: YAML value, ``-`` → ``_``)."""
    from fertk.clitools import parse_options

    ((key, value),) = parse_options([text], "--set", example="frame.epochs=5").items()
    out: dict[str, Any] = {}
    node = out
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The raw mapping in a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file."""
    p = Path(path)
    if not p.is_file():
        raise FertkError(f"config file {p} does not exist")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise FertkError(f"config file {p}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                         f"at offset {exc.start}); a config is a YAML or TOML text file") from None
    try:
        if p.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            from fertk import yamlio

            data = yamlio.load(text) or {}
    except Exception as exc:  # yaml.YAMLError, tomllib.TOMLDecodeError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FertkError(f"config file {p}: cannot parse: {first}") from exc
    if not isinstance(data, dict):
        raise FertkError(f"config file {p}: expected a mapping at the top level")
    return data


def build_config(
    data: dict[str, Any] | None = None, overrides: list[str] | tuple[str, ...] = (),
    where: str = "config", context: Any = None,
) -> TrainConfig:
    """A validated :class:`TrainConfig` from a raw mapping plus ``--set`` overrides; registry
    names (augmentations) are checked against ``context`` (default: the default plugin context)."""
    raw: dict[str, Any] = dict(data or {})
    for text in overrides:
        raw = deep_merge(raw, parse_override(text))
    preset = raw.get("preset", "default")
    if preset not in PRESETS:
        raise FertkError(f"{where}: unknown preset '{preset}'; known: {', '.join(PRESETS)}")
    merged = deep_merge(PRESETS[preset], raw)
    merged["preset"] = preset
    cfg = _from_dict(TrainConfig, merged, where)
    validate(cfg, where, context)
    return cfg


def load_config(
    path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
    context: Any = None,
) -> TrainConfig:
    """Load a config file (or start from the default preset) and apply ``--set`` overrides."""
    data = read_config_file(path) if path is not None else {}
    cfg = build_config(data, overrides, where=str(path) if path else "config", context=context)
    if path is not None and cfg.name == "run":
        cfg.name = Path(path).stem
    return cfg


def saved_run_config(run: str | Path, context: Any = None) -> TrainConfig:
    """The config a run folder was trained with (``RUN/config.yaml`` as the trainer wrote it,
    taken as it is: no renaming)."""
    path = Path(run) / "config.yaml"
    return build_config(read_config_file(path), where=str(path), context=context)


def validate(cfg: TrainConfig, where: str = "config", context: Any = None) -> None:
    """Raise a one-line :class:`FertkError` for values that cannot work (registry names looked
    up in ``context``, default: the default plugin context)."""

    def bad(key: str, msg: str) -> None:
        raise FertkError(f"{where}: {key}: {msg}")

    from fertk.training.bounds import check_values

    check_values(cfg, where)  # every value's type and range (fertk.training.bounds.BOUNDS)
    if cfg.protocol.selection not in SELECTIONS:
        bad("protocol.selection", f"must be one of {', '.join(SELECTIONS)} (got {cfg.protocol.selection!r})")
    if cfg.protocol.kind not in PROTOCOL_KINDS:
        bad("protocol.kind", f"must be one of {', '.join(PROTOCOL_KINDS)} (got {cfg.protocol.kind!r})")
    if cfg.protocol.kind == "splits" and not cfg.protocol.splits:
        bad("protocol.splits", "kind 'splits' needs a split file")
    if not 0.0 <= cfg.protocol.val_fraction < 1.0:
        bad("protocol.val_fraction", "must be in [0, 1)")
    if (cfg.protocol.selection == "validation" and cfg.protocol.val_fraction <= 0
            and cfg.protocol.kind != "standard"):
        bad("protocol.val_fraction", "selection 'validation' needs a validation fraction > 0")
    for stage, opt in (("frame", cfg.frame.optimizer), ("sequence", cfg.sequence.optimizer)):
        if opt not in ("sgd", "adam", "adamw"):
            bad(f"{stage}.optimizer", f"must be sgd, adam or adamw (got {opt!r})")
    for stage, sch in (("frame", cfg.frame.scheduler), ("sequence", cfg.sequence.scheduler)):
        if sch not in ("constant", "cosine", "step"):
            bad(f"{stage}.scheduler", f"must be constant, cosine or step (got {sch!r})")
    fr = str(cfg.frame.frames)
    if not (fr in ("peak", "all") or (fr.startswith("last:") and fr[5:].isdigit() and int(fr[5:]) > 0)):
        bad("frame.frames", f"must be peak, all or last:K (got {fr!r})")
    if cfg.frame.init not in ("xavier", "default"):
        bad("frame.init", "must be xavier or default")
    aug = cfg.frame.augment
    for key, kind, name in (("illumination", "illumination", aug.illumination),
                            ("test_illumination", "illumination", aug.test_illumination),
                            ("geometric", "geometric", aug.geometric),
                            ("camera", "camera", aug.camera)):
        if key in ("geometric", "camera") and name == "none":
            continue
        problem = augmentation_problem(name, kind, context)
        if problem:
            bad(f"frame.augment.{key}", problem)
    for key in ("geometric_options", "illumination_options", "camera_options"):
        if not isinstance(getattr(aug, key), dict):
            bad(f"frame.augment.{key}", "must be a mapping of options")
    from fertk.training.arrays import is_scheme

    if is_scheme(aug.test_illumination, context=context):
        bad("frame.augment.test_illumination", f"'{aug.test_illumination}' is a training scheme; "
            "name the normalisation applied at test time (he, lm, ws or none)")
    fz = cfg.frame.freeze
    if not (fz in ("auto", "features", "none") or (isinstance(fz, int) and not isinstance(fz, bool) and fz >= 0)):
        bad("frame.freeze", f"must be auto, features, none or a number of epochs >= 0 (got {fz!r})")
    lrb = cfg.frame.lr_backbone
    if not (lrb == "auto" or (isinstance(lrb, (int, float)) and not isinstance(lrb, bool) and 0 <= lrb <= 10)):
        bad("frame.lr_backbone", f"must be auto or a learning rate in [0, 10] (got {lrb!r})")
    if not cfg.frame.enabled and not cfg.model.init_from:
        bad("frame.enabled", "false needs model.init_from (the frame model to use as it is)")
    if cfg.sequence.source not in ("sequences", "stills"):
        bad("sequence.source", f"must be sequences or stills (got {cfg.sequence.source!r})")
    if cfg.sequence.input_kind not in ("probs", "features"):
        bad("sequence.input_kind", "must be probs or features")
    from fertk.training.losses import CLASS_BALANCES

    if cfg.frame.class_balance not in CLASS_BALANCES:
        bad("frame.class_balance", f"must be one of {', '.join(CLASS_BALANCES)} (got {cfg.frame.class_balance!r})")
    _check_distill(cfg, bad)
    tau = cfg.frame.logit_adjust
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not 0.0 <= tau <= 10.0:
        bad("frame.logit_adjust", f"must be a number in [0, 10], 0 for off (got {tau!r})")
    if cfg.run.amp not in ("auto", "bf16", "fp16", "off"):
        bad("run.amp", "must be auto, bf16, fp16 or off")
    if cfg.run.channels_last not in ("auto", "on", "off", True, False):
        bad("run.channels_last", "must be auto, on or off")


def _check_distill(cfg: TrainConfig, bad: Any) -> None:
    """``model.teachers`` and ``frame.distill``/``distill_temperature`` go together."""
    teachers, alpha, temp = cfg.model.teachers, cfg.frame.distill, cfg.frame.distill_temperature
    if not isinstance(teachers, list) or not all(isinstance(t, str) and t for t in teachers):
        bad("model.teachers", f"must be a list of weight names or checkpoints (got {teachers!r})")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        bad("frame.distill", f"must be the teachers' share of the target in [0, 1] (got {alpha!r})")
    if isinstance(temp, bool) or not isinstance(temp, (int, float)) or not 0.05 <= temp <= 20.0:
        bad("frame.distill_temperature", f"must be a number in [0.05, 20] (got {temp!r})")
    if teachers and not alpha:
        bad("frame.distill", "is 0: set the teachers' share of the target (e.g. 0.5) to use model.teachers")
    if alpha and not teachers:
        bad("model.teachers", f"frame.distill is {alpha}: name at least one teacher checkpoint")


def augmentation_problem(name: Any, kind: str, context: Any = None) -> str | None:
    """Why ``name`` is not an augmentation of ``kind`` registered in ``context`` (None: it is one)."""
    from fertk.plugins import get_registry
    from fertk.registry import UnknownComponentError

    registry = get_registry("augmentations", context)
    names = [n for n in registry.names() if registry.get(n).metadata.get("kind") == kind]
    if not isinstance(name, str):
        return f"must be the name of a {kind} augmentation ({', '.join(names)}), got {name!r}"
    try:
        spec = registry.get(name)
    except UnknownComponentError as exc:
        return f"{str(exc).rstrip('.')}; {kind} augmentations: {', '.join(names)}"
    if spec.metadata.get("kind") != kind:
        return f"'{name}' is a {spec.metadata.get('kind')} augmentation, not a {kind} one ({', '.join(names)})"
    return None


def starts_trained(cfg: TrainConfig) -> bool:
    """Whether the frame model starts from trained weights (``model.init_from``, or a
    backbone option ``pretrained``/``pretrained_file`` such as timm's)."""
    opts = cfg.model.backbone_options or {}
    return bool(cfg.model.init_from) or opts.get("pretrained") not in (None, False, "", "false") \
        or bool(opts.get("pretrained_file"))


#: ``auto`` fine-tuning: features frozen for this many epochs, backbone at this share of frame.lr.
AUTO_FREEZE_EPOCHS = 1
AUTO_LR_BACKBONE = 0.1


def fine_tune_plan(cfg: TrainConfig) -> tuple[int, float]:
    """``(epochs with frozen features, learning rate of the features)`` of the frame stage.

    ``frame.freeze``: ``none`` (0), ``features`` (every epoch: only the classifier learns), a
    number of epochs before unfreezing, or ``auto``: :data:`AUTO_FREEZE_EPOCHS` when the model
    starts from trained weights (:func:`starts_trained`), else 0. ``frame.lr_backbone``: a rate,
    or ``auto``: :data:`AUTO_LR_BACKBONE` × ``frame.lr`` from trained weights, else ``frame.lr``.
    Why: a classifier with new rows sends large, random gradients into the features in the
    first steps; training it alone first, then the features at a tenth of the rate, keeps what
    the source learnt on its large data set (docs/training.md).
    """
    st, trained = cfg.frame, starts_trained(cfg)
    if st.freeze == "auto":
        freeze = AUTO_FREEZE_EPOCHS if trained else 0
    elif st.freeze == "features":
        freeze = st.epochs
    elif st.freeze == "none":
        freeze = 0
    else:
        freeze = int(st.freeze)
    lr = st.lr * (AUTO_LR_BACKBONE if trained else 1.0) if st.lr_backbone == "auto" else float(st.lr_backbone)
    return min(freeze, st.epochs), lr


def config_to_yaml(cfg: TrainConfig) -> str:
    import yaml

    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
