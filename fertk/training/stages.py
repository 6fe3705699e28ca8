"""The two training stages: the frame CNN (stage 1) and the temporal head (stage 2).

Both loops are resumable: trainer state (weights, optimizer, best weights, history, epoch or
iteration, RNG state) is saved with ``torch.save`` of tensors and plain containers and read
back with ``torch.load(weights_only=True)``. Every epoch (stage 1) and every evaluation
chunk (stage 2) reseeds from ``(seed, fold, stage, epoch)``, so a resumed run repeats the
uninterrupted run exactly.
"""

from __future__ import annotations

import contextlib
import copy
import math
import pickle
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fertk.errors import FertkError, one_line
from fertk.fsutil import atomic_path
from fertk.training.finite import check_loss
from fertk.training.metrics import compute_metrics


class TrainingInterrupted(FertkError):
    """Training stopped on purpose (``run.stop_after_epochs``); resume with ``--resume``."""


def seed_for(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0])


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write the trainer state atomically, with a sha256 of its contents under ``"checksum"``
    (:func:`load_state` refuses a file whose contents no longer match it)."""
    from fertk.training.state_checksum import state_digest

    body = {k: v for k, v in state.items() if k != "checksum"}
    with atomic_path(path) as tmp:
        torch.save({**body, "checksum": state_digest(body)}, tmp)


def load_state(path: Path) -> dict[str, Any] | None:
    """The trainer state saved at ``path`` (``None`` when there is none yet).

    A file that cannot be read back (truncated, empty, not written by :func:`save_state`) or
    whose contents do not match the checksum stored in it (flipped bits) is a one-line
    :class:`FertkError` naming it and how to restart that fold's stage. A state written before
    states carried a checksum is read as it is.
    """
    if not path.is_file():
        return None
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickles before refusing them
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any read failure (OSError, EOFError, UnpicklingError, torch's
        # RuntimeError on a broken archive) means the same thing: the file is damaged
        if path.stat().st_size == 0:
            why = "the file is empty"
        elif isinstance(exc, pickle.UnpicklingError):
            why = "it is not a trainer state written by fertk; its pickled objects are refused"
        else:
            why = one_line(exc).split(". ")[0]  # torch adds paragraphs of advice
        raise _damaged(path, why) from exc
    if not isinstance(state, dict):
        raise _damaged(path, f"it holds a {type(state).__name__}, not a trainer state")
    from fertk.training.state_checksum import state_digest

    stored = state.pop("checksum", None)
    if stored is not None and stored != state_digest(state):
        raise _damaged(path, "its contents do not match the checksum stored in it: changed "
                             "or corrupted bits")
    return state


def _damaged(path: Path, why: str) -> FertkError:
    fold, _, stage = path.stem.rpartition("_")
    return FertkError(
        f"{path}: the saved trainer state is damaged ({why}); delete this file to restart "
        f"the {stage} stage of {fold} from its beginning (the other folds keep their progress), "
        "or train into a new --out"
    )


def cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").clone() for k, v in module.state_dict().items()}


def make_optimizer(params: Any, stage: Any) -> torch.optim.Optimizer:
    if stage.optimizer == "sgd":
        return torch.optim.SGD(params, lr=stage.lr, momentum=getattr(stage, "momentum", 0.9),
                               weight_decay=stage.weight_decay)
    if stage.optimizer == "adam":
        return torch.optim.Adam(params, lr=stage.lr, weight_decay=stage.weight_decay)
    return torch.optim.AdamW(params, lr=stage.lr, weight_decay=stage.weight_decay)


def lr_factor(kind: str, step: int, total: int, warmup: int = 0) -> float:
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, p)))
    if kind == "step":
        return 0.1 ** min(2, int(3 * p))
    return 1.0


def amp_context(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@dataclass
class StageContext:
    """What a stage needs to know about the run and the fold."""

    cfg: Any
    dist: Any
    fold_index: int
    fold_name: str
    state_path: Path
    progress: Any
    digest: str
    amp_dtype: torch.dtype | None = None
    channels_last: bool = False
    budget: list[int] = field(default_factory=lambda: [-1])  # epochs left (testing hook)

    def tick(self) -> bool:
        """Count one finished epoch; True when the stop-after budget is used up."""
        if self.budget[0] < 0:
            return False
        self.budget[0] -= 1
        return self.budget[0] == 0


@dataclass
class StageResult:
    best_state: dict[str, torch.Tensor]
    history: list[dict[str, Any]]
    best_step: int
    steps_run: int
    best_val: dict[str, float]
    warnings: list[str] = field(default_factory=list)


@torch.no_grad()
def predict(model: torch.nn.Module, make_input: Callable[[np.ndarray], torch.Tensor],
            crops: np.ndarray, batch: int = 256, amp_dtype: torch.dtype | None = None,
            features: bool = False) -> torch.Tensor:
    """Logits (or ``forward_features``) of ``model`` for uint8 crops, float32 on the CPU."""
    was = model.training
    model.eval()
    outs = []
    dev = next(model.parameters()).device
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            x = make_input(np.asarray(crops[i : i + batch]))
            with amp_context(dev, amp_dtype):
                y = model.forward_features(x) if features else model(x)
            outs.append(y.float().cpu())
    model.train(was)
    if not outs:
        return torch.zeros(0, 0)
    return torch.cat(outs)


def sequence_outputs(model: torch.nn.Module, views: Sequence[Callable[[np.ndarray], torch.Tensor]],
                     crops: np.ndarray, groups: dict[str, np.ndarray], seq_len: int, *,
                     features: bool = False, batch: int = 256,
                     amp_dtype: torch.dtype | None = None) -> torch.Tensor:
    """``(V, S, T, D)`` inputs of a temporal head: the frozen ``model``'s per-frame softmax
    probabilities (or ``forward_features``) over each sequence of ``groups``, resampled
    uniformly to ``T = seq_len`` frames (onset → apex), once per input transform in ``views``.

    Each distinct frame runs through the model once per view. Used by training (stage 2) and
    by ``fertk eval``, so both feed a head exactly the same way, by the composition rules of
    :mod:`fertk.models.sequence` (the frame selection and per-frame outputs of SequenceModel).
    """
    from fertk.models.sequence import frame_outputs, window_indices

    picked = [g[window_indices(len(g), seq_len)] for g in groups.values()]
    if not picked:
        return torch.zeros(len(views), 0, seq_len, 0)
    rows = np.unique(np.concatenate(picked))
    idx = torch.as_tensor(np.searchsorted(rows, np.stack(picked)))
    out = []
    for make_input in views:
        y = predict(model, make_input, np.asarray(crops[rows]), batch, amp_dtype, features)
        out.append((y if features else frame_outputs(model, None, logits=y))[idx])
    return torch.stack(out)


def _score(metrics: dict[str, Any], loss: float) -> tuple[float, float]:
    return (metrics["accuracy"], -loss)


#: Trainer-state keys of the selection (best model so far), shared by both stages.
_BEST = ("history", "best_model", "best_step", "best_score", "best_val")


def _resume(ctx: StageContext, module: torch.nn.Module, opt: torch.optim.Optimizer
            ) -> dict[str, Any] | None:
    """This stage's saved state loaded into ``module`` and ``opt`` (``None``: a fresh start);
    its :data:`_BEST` entries normalised (list, int, tuple or None, dict)."""
    state = load_state(ctx.state_path)
    if state is None:
        return None
    if state.get("digest") != ctx.digest:
        raise FertkError(f"{ctx.state_path}: trainer state belongs to a different config")
    module.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    state["history"], state["best_step"] = list(state["history"]), int(state["best_step"])
    state["best_score"] = tuple(state["best_score"]) if state["best_score"] is not None else None
    state["best_val"] = dict(state["best_val"])
    return state


def _save(ctx: StageContext, module: torch.nn.Module, opt: torch.optim.Optimizer,
          best: tuple, **counters: Any) -> None:
    """Save the trainer state: weights, optimizer, the selection ``best`` (in :data:`_BEST`
    order) and the stage's ``counters`` (epoch or chunk, ...)."""
    history, best_state, best_step, best_score, best_val = best
    save_state(ctx.state_path, {
        "digest": ctx.digest, "model": cpu_state(module), "optimizer": opt.state_dict(),
        "history": history, "best_model": best_state, "best_step": best_step,
        "best_score": list(best_score) if best_score else None, "best_val": best_val, **counters,
    })


def run_frame_stage(ctx: StageContext, model: torch.nn.Module, pipe: Any,
                    train_x: np.ndarray, train_y: np.ndarray,
                    val_x: np.ndarray, val_y: np.ndarray, classes: list[str],
                    target_kind: str = "") -> StageResult:
    """Stage 1: train the frame CNN, select the epoch with the best validation accuracy.

    ``train_y``: class indices, or ``(n, C)`` distributions used as ``target_kind`` says
    (:mod:`fertk.training.losses`)."""
    from torch.utils.data import DistributedSampler

    from fertk.training.batchnorm import (
        bn_layers,
        gap_warning,
        mode_gap,
        recompute_stats,
        training_batches,
    )
    from fertk.training.config import fine_tune_plan
    from fertk.training.ema import WeightAverage
    from fertk.training.losses import frame_loss

    cfg, st, dist = ctx.cfg, ctx.cfg.frame, ctx.dist
    device = dist.device
    model.to(device)
    if ctx.channels_last:
        model.to(memory_format=torch.channels_last)
    freeze_epochs, lr_backbone = fine_tune_plan(cfg)
    features, head_params, head_modules = split_classifier(
        model, explicit=st.freeze not in ("auto", "none") or st.lr_backbone != "auto")
    if not features:  # no classifier named: the whole model at frame.lr, nothing frozen
        freeze_epochs = 0
    groups = [{"params": g, "lr": lr, "base_lr": lr}
              for g, lr in ((features, lr_backbone), (head_params, st.lr)) if g]
    opt = make_optimizer(groups, st)

    def wrap(frozen: bool) -> torch.nn.Module:
        """The module to train, with the features frozen or not (DDP registers only the
        parameters that need gradients when it is built, so it is rebuilt on unfreezing)."""
        for p in features:
            p.requires_grad_(not frozen)
        out: torch.nn.Module = model
        if dist.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            out = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
        return torch.compile(out) if cfg.run.compile else out
    scaler = torch.amp.GradScaler("cuda") if ctx.amp_dtype == torch.float16 else None
    n = len(train_x)
    per_rank = max(1, st.batch_size // dist.world)
    sampler = DistributedSampler(range(n), num_replicas=dist.world, rank=dist.rank, shuffle=True,
                                 seed=seed_for(cfg.run.seed, ctx.fold_index, 1), drop_last=False)
    steps_per_epoch = math.ceil(len(sampler) / per_rank)
    total = st.epochs * steps_per_epoch
    warm = st.warmup_epochs * steps_per_epoch
    loss_fn = frame_loss(st, train_y, len(classes), target_kind).to(device)
    train_y_t = loss_fn.tensor(train_y).to(device)
    train_labels_t = loss_fn.labels(train_y_t)
    # the uint8 training crops live on the training device (a few MB for CK+-sized data), so
    # a step is one gather + one augmentation kernel, no host-to-device copy
    src = np.ascontiguousarray(train_x)
    src_t = torch.from_numpy(src if src.flags.writeable else src.copy())
    if device.type == "cuda" and src_t.numel() < 4 * 1024**3:
        src_t = src_t.to(device)

    # batch norm (fertk.training.batchnorm): statistics recomputed before each validation, and
    # evaluation mode checked against batch statistics on fixed training images
    has_bn = bool(bn_layers(model))
    precise = min(int(st.precise_bn), steps_per_epoch) if has_bn else 0
    probe = np.random.default_rng(seed_for(cfg.run.seed, ctx.fold_index, 6)).permutation(n)[:256]
    warned: list[str] = []
    start, history, best_state, best_step, best_score, bad = 0, [], cpu_state(model), -1, None, 0
    best_val: dict[str, float] = {}

    def validate(net: torch.nn.Module, epoch: int, frozen: bool, rec: dict[str, Any],
                 check: bool) -> tuple[dict[str, Any], float]:
        """``net``'s validation metrics and loss after ``epoch``: its batch-norm statistics
        recomputed first (``precise``), its evaluation mode checked on training images into
        ``rec["bn_check"]`` (``check``)."""
        if precise and not frozen:  # frozen features keep their source's statistics
            g = torch.Generator().manual_seed(seed_for(cfg.run.seed, ctx.fold_index, 7, epoch))
            rows = torch.randperm(n, generator=g).numpy()
            with amp_context(device, ctx.amp_dtype):
                recompute_stats(net, training_batches(pipe, src_t, rows, per_rank, precise, g)())
        if has_bn and check:
            with amp_context(device, ctx.amp_dtype):
                gap = mode_gap(net, pipe.test(src_t[torch.from_numpy(probe).to(src_t.device)]),
                               train_labels_t[torch.from_numpy(probe).to(device)])
            rec["bn_check"] = {"eval_acc": gap[0], "batch_stats_acc": gap[1]}
            line = gap_warning(cfg.model.backbone, *gap, precise)
            if line and line not in warned:
                warned.append(line)
                ctx.progress.log(f"{ctx.fold_name} epoch {epoch + 1}: {line}")
        logits = predict(net, pipe.test, val_x, amp_dtype=ctx.amp_dtype)
        loss = float(F.cross_entropy(logits, torch.as_tensor(val_y))) if len(val_y) else 0.0
        return compute_metrics(val_y, logits.argmax(1).numpy(), classes), loss

    ema = WeightAverage(model, st.ema) if st.ema else None
    state = _resume(ctx, model, opt)
    if state is not None:
        start, bad = int(state["epoch"]), int(state["bad"])
        if ema is not None:
            ema.load(state["ema"])
        history, best_state, best_step, best_score, best_val = (state[k] for k in _BEST)
        if bad >= st.patience:
            start = st.epochs  # early-stopped before the interruption
    ctx.progress.stage(f"{ctx.fold_name} frame", st.epochs, completed=start)
    epoch, frozen, train_model = start, None, model
    for epoch in range(start, st.epochs):
        if frozen is not (epoch < freeze_epochs):
            frozen = epoch < freeze_epochs
            train_model = wrap(frozen)
        sampler.set_epoch(epoch)
        torch.manual_seed(seed_for(cfg.run.seed, ctx.fold_index, 1, epoch))
        gen = torch.Generator().manual_seed(seed_for(cfg.run.seed, ctx.fold_index, 2, epoch))
        order = np.fromiter(iter(sampler), dtype=np.int64)
        t_start = time.perf_counter()
        train_model.train()
        if frozen:  # frozen features keep their batch-norm statistics too
            for m in model.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and id(m) not in head_modules:
                    m.eval()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        for b in range(steps_per_epoch):
            idx = order[b * per_rank : (b + 1) * per_rank]
            if idx.size == 0:
                continue
            idx_t = torch.from_numpy(idx).to(src_t.device, non_blocking=True)
            x = pipe.train(src_t[idx_t], gen)
            y = train_y_t[idx_t.to(device)]
            for g in opt.param_groups:
                g["lr"] = g["base_lr"] * lr_factor(st.scheduler, epoch * steps_per_epoch + b, total, warm)
            with amp_context(device, ctx.amp_dtype):
                logits = train_model(x)
                loss = loss_fn(logits, y, gen)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            if ema is not None:
                ema.update(model)
            loss_sum += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == loss_fn.labels(y)).sum()
            seen += len(idx)
        rec: dict[str, Any] = {"epoch": epoch + 1, "loss": float(loss_sum) / max(1, seen),
                               "train_acc": float(correct) / max(1, seen),
                               "lr": opt.param_groups[-1]["lr"], "images": seen,
                               "train_s": time.perf_counter() - t_start}
        check_loss(rec["loss"], f"{ctx.fold_name} frame epoch {epoch + 1}", "frame.lr", st.lr)
        last = epoch + 1 == st.epochs
        if (epoch + 1) % st.eval_every == 0 or last:
            # the trained weights first, as in a run without an average (frame.ema)
            vm, vloss = validate(model, epoch, frozen, rec, check=ema is None)
            selected = model
            if ema is not None:
                rec.update(raw_val_acc=vm["accuracy"], raw_val_uar=vm["uar"])
                vm, vloss = validate(ema.model, epoch, frozen, rec, check=True)
                selected = ema.model
            rec.update(val_loss=vloss, val_acc=vm["accuracy"], val_uar=vm["uar"])
            score = _score(vm, vloss)
            if best_score is None or score > best_score:
                best_score, best_state, best_step, bad = score, cpu_state(selected), epoch + 1, 0
                best_val = {"accuracy": vm["accuracy"], "uar": vm["uar"], "loss": vloss}
            else:
                bad += st.eval_every
        rec["epoch_s"] = time.perf_counter() - t_start
        history.append(rec)
        ctx.progress.update(1, loss=rec["loss"], acc=rec["train_acc"], val=rec.get("val_acc"))
        stop_early = bad >= st.patience
        if dist.is_main and ((epoch + 1) % cfg.run.checkpoint_every == 0 or stop_early or last
                             or ctx.budget[0] == 1):
            _save(ctx, model, opt, (history, best_state, best_step, best_score, best_val),
                  epoch=epoch + 1, bad=bad, torch_rng=torch.get_rng_state(),
                  **({"ema": ema.state()} if ema is not None else {}))
        if ctx.tick():
            raise TrainingInterrupted(
                f"stopped after {cfg.run.stop_after_epochs} epoch(s) as asked (run.stop_after_epochs); "
                "continue with --resume")
        if stop_early:
            break
    for p in features:
        p.requires_grad_(True)
    # epochs run = one history record per epoch, including those of an interrupted run (a
    # resumed stage that had already finished or stopped early runs none here)
    last_check = next((r["bn_check"] for r in reversed(history) if "bn_check" in r), None)
    final = gap_warning(cfg.model.backbone, last_check["eval_acc"], last_check["batch_stats_acc"],
                        precise) if last_check else None
    return StageResult(best_state, history, best_step, len(history), best_val,
                       [final] if final else [])


def split_classifier(model: torch.nn.Module, explicit: bool = False
                     ) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter], set[int]]:
    """``(feature parameters, classifier parameters, ids of the classifier's modules)``
    (:func:`fertk.backbones.base.classifier_of`). A backbone that names no classifier is all
    classifier (nothing to freeze), or an error when ``explicit`` fine-tuning settings need one."""
    from fertk.backbones.base import classifier_of

    found = classifier_of(model)
    if found is None:
        if explicit:
            raise FertkError(f"frame.freeze / frame.lr_backbone: the backbone {type(model).__name__} "
                             "names no classifier (a get_classifier() method or a 'classifier' "
                             "attribute); use frame.freeze: auto or none and frame.lr_backbone: auto")
        return [], list(model.parameters()), set()
    head = found[1]
    in_head = {id(p) for p in head.parameters()}
    return ([p for p in model.parameters() if id(p) not in in_head], list(head.parameters()),
            {id(m) for m in head.modules()})


@contextlib.contextmanager
def cpu_threads(n: int, device: torch.device):
    """Run a block with ``n`` intra-op CPU threads (tiny models lose time to thread sync)."""
    from fertk.threads import torch_threads

    with torch_threads(n if device.type == "cpu" else None):
        yield


def run_sequence_stage(ctx: StageContext, head: torch.nn.Module, train_x: torch.Tensor,
                       train_y: np.ndarray, val_x: torch.Tensor, val_y: np.ndarray,
                       classes: list[str]) -> StageResult:
    """Stage 2 (see :func:`_sequence_loop`), on one CPU thread: the head is tiny."""
    with cpu_threads(1, ctx.dist.device):
        return _sequence_loop(ctx, head, train_x, train_y, val_x, val_y, classes)


def _sequence_loop(ctx: StageContext, head: torch.nn.Module, train_x: torch.Tensor,
                   train_y: np.ndarray, val_x: torch.Tensor, val_y: np.ndarray,
                   classes: list[str]) -> StageResult:
    """Stage 2: train the temporal head on frozen per-frame outputs ``(V, S, T, D)``.

    ``V`` augmented views per sequence (centre, mirror, shifted windows); each sample of a
    batch picks a random sequence and view. Selection: best validation accuracy, checked
    every ``sequence.eval_every`` iterations. Runs identically on every DDP rank.
    """
    cfg, st = ctx.cfg, ctx.cfg.sequence
    device = ctx.dist.device
    head.to(device)
    params = [p for p in head.parameters() if p.requires_grad]
    if not params or len(train_y) == 0:
        return StageResult(cpu_state(head), [], 0, 0, {})
    opt = make_optimizer(params, st)
    xs = train_x.to(device)
    ys = torch.as_tensor(train_y, dtype=torch.long, device=device)
    vx = val_x.to(device)
    chunk = max(1, min(st.eval_every, st.iterations))
    n_chunks = math.ceil(st.iterations / chunk)
    start, history, best_state, best_step, best_score = 0, [], cpu_state(head), 0, None
    best_val: dict[str, float] = {}
    state = _resume(ctx, head, opt)
    if state is not None:
        start = int(state["chunk"])
        history, best_state, best_step, best_score, best_val = (state[k] for k in _BEST)
    ctx.progress.stage(f"{ctx.fold_name} {cfg.model.temporal}", st.iterations,
                       completed=min(st.iterations, start * chunk))
    v_count, s_count = xs.shape[0], xs.shape[1]
    for c in range(start, n_chunks):
        torch.manual_seed(seed_for(cfg.run.seed, ctx.fold_index, 3, c))
        rng = np.random.default_rng(seed_for(cfg.run.seed, ctx.fold_index, 4, c))
        head.train()
        t_start = time.perf_counter()
        loss_sum, correct, seen = 0.0, 0, 0
        it0, it1 = c * chunk, min(st.iterations, (c + 1) * chunk)
        for it in range(it0, it1):
            si = torch.as_tensor(rng.integers(0, s_count, st.batch_size), device=device)
            vi = torch.as_tensor(rng.integers(0, v_count, st.batch_size), device=device)
            x, y = xs[vi, si], ys[si]
            for g in opt.param_groups:
                g["lr"] = st.lr * lr_factor(st.scheduler, it, st.iterations)
            logits = head(x)
            loss = F.cross_entropy(logits, y, label_smoothing=st.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(y)
            correct += int((logits.detach().argmax(1) == y).sum())
            seen += len(y)
        check_loss(loss_sum / max(1, seen), f"{ctx.fold_name} {cfg.model.temporal} iteration {it1}",
                   "sequence.lr", st.lr)
        head.eval()
        with torch.no_grad():
            vl = head(vx).float().cpu() if len(val_y) else torch.zeros(0, len(classes))
        vloss = float(F.cross_entropy(vl, torch.as_tensor(val_y))) if len(val_y) else 0.0
        vm = compute_metrics(val_y, vl.argmax(1).numpy(), classes)
        rec = {"epoch": it1, "loss": loss_sum / max(1, seen), "train_acc": correct / max(1, seen),
               "val_loss": vloss, "val_acc": vm["accuracy"], "val_uar": vm["uar"],
               "train_s": time.perf_counter() - t_start}
        history.append(rec)
        score = _score(vm, vloss)
        if best_score is None or score > best_score:
            best_score, best_state, best_step = score, cpu_state(head), it1
            best_val = {"accuracy": vm["accuracy"], "uar": vm["uar"], "loss": vloss}
        ctx.progress.update(it1 - it0, loss=rec["loss"], acc=rec["train_acc"], val=vm["accuracy"])
        if ctx.dist.is_main:
            _save(ctx, head, opt, (history, best_state, best_step, best_score, best_val),
                  chunk=c + 1)
        if ctx.tick():  # run.stop_after_epochs counts evaluation chunks here (testing hook)
            raise TrainingInterrupted(
                f"stopped after {cfg.run.stop_after_epochs} epoch(s) and chunk(s) as asked "
                "(run.stop_after_epochs); continue with --resume")
    return StageResult(best_state, history, best_step, st.iterations, best_val)


def copy_module(module: torch.nn.Module) -> torch.nn.Module:
    return copy.deepcopy(module)
