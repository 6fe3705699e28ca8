"""Types and ranges of the training config's values: the one place they are checked.

:func:`fertk.training.config.validate` calls :func:`check_values` first. Every value must be
of its field's type (:func:`fertk.option_types.checked`: an integer for ``int`` fields,
``true``/``false`` for ``bool`` ones, a finite number for ``float`` ones, a mapping for option
dicts) and, for the keys of :data:`BOUNDS`, inside its range; ``run.device`` is a device
(:func:`fertk.option_types.parse_device`). A number given as text (``"1e-3"``) becomes the
number. A value that breaks the rules is one :class:`~fertk.errors.FertkError` naming the key,
the allowed values and the value given. Choices (``frame.optimizer`` ...) and the rules that
join several keys stay in ``validate``.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any

from fertk.errors import FertkError
from fertk.option_types import Range, Refused, checked, parse_device

_POS = Range(1, None)  # a count of at least one
_NONNEG = Range(0, None)

#: ``key → range`` of the numbers of a training config (docs/training.md lists them).
BOUNDS: dict[str, Range] = {
    "data.workers": Range(0, 256),
    "protocol.folds": Range(2, 10_000),
    "frame.epochs": Range(1, 1_000_000),
    "frame.batch_size": Range(1, 65_536),
    "frame.lr": Range(0, 10, lo_open=True),
    "frame.momentum": Range(0, 1, hi_open=True),
    "frame.weight_decay": Range(0, 10),
    "frame.warmup_epochs": Range(0, 1_000_000),
    "frame.label_smoothing": Range(0, 1, hi_open=True),
    "frame.patience": Range(1, 1_000_000),
    "frame.eval_every": Range(1, 1_000_000),
    "frame.precise_bn": Range(0, 100_000),
    "frame.ema": Range(0, 1, hi_open=True),
    "frame.augment.rotate": Range(0, 180),
    "frame.augment.scale": Range(0, 1, hi_open=True),
    "sequence.seq_len": Range(1, 10_000),
    "sequence.iterations": Range(1, 100_000_000),
    "sequence.batch_size": Range(1, 65_536),
    "sequence.lr": Range(0, 10, lo_open=True),
    "sequence.weight_decay": Range(0, 10),
    "sequence.label_smoothing": Range(0, 1, hi_open=True),
    "sequence.eval_every": Range(1, 100_000_000),
    "sequence.views": Range(1, 1_000),
    "sequence.tracks": _POS,
    "sequence.onset": Range(0, 1),
    "run.seed": Range(0, 2**32 - 1),
    "run.checkpoint_every": Range(1, 1_000_000),
    "run.stop_after_epochs": _NONNEG,
}


#: What a value is, where "a number" says too little (``frame.ema: must be a decay in [0, 1)``).
NOUNS = {"frame.ema": "a decay", "frame.lr": "a learning rate", "sequence.lr": "a learning rate"}


def expected(key: str, base: Any, refused: str) -> str:
    """What the value of ``key`` must be: its kind and range for a key of :data:`BOUNDS`
    (whatever was wrong with it), else ``refused``."""
    bounds = BOUNDS.get(key)
    if bounds is None or base not in (int, float):
        return refused
    noun = NOUNS.get(key) or ("an integer" if base is int else "a number")
    where = f"in {bounds}" if bounds.lo is not None and bounds.hi is not None else str(bounds)
    return f"{noun} {where}"


@functools.cache
def _fields(cls: type) -> list[tuple[str, Any]]:
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls)]


def _plain(annotation: Any) -> tuple[Any, bool] | None:
    """``(type, optional)`` of ``T`` or ``T | None`` with one checkable ``T`` (int, float,
    bool, str, dict, list); None for the rest (``str | int``: checked by ``validate``)."""
    optional = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(annotation) if m is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        if len(members) != 1:
            return None
        annotation = members[0]
    base = typing.get_origin(annotation) or annotation
    return (base, optional) if base in (int, float, bool, str, dict, list) else None


def _check(key: str, value: Any, annotation: Any) -> Any:
    """``value`` as the field ``key`` of type ``annotation`` keeps it; Refused otherwise."""
    plain = _plain(annotation)
    if plain is None:
        return value
    base, optional = plain
    if value is None:
        if optional:
            return None
        raise Refused({dict: "a mapping", list: "a list"}.get(base, f"a value of type {base.__name__}"))
    if base is dict:
        if not isinstance(value, dict):
            raise Refused("a mapping of options (KEY: VALUE)")
        return value
    if base is list:
        if not isinstance(value, list):
            raise Refused("a list")
        return value
    new = checked(value, base, BOUNDS.get(key))
    if (base is float or base is bool) and isinstance(value, int):
        return value  # 1 for 1.0, 1 for true: kept as written (the digests of earlier runs stay)
    return new


def check_values(cfg: Any, where: str = "config") -> None:
    """Check (and, for numbers written as text, convert in place) every value of ``cfg``, a
    :class:`~fertk.training.config.TrainConfig`; one :class:`FertkError` at the first bad one:
    ``config: frame.lr: must be a number in (0, 10] (got -1)``."""
    _check_section(cfg, "", where)
    try:
        parse_device(cfg.run.device)
    except FertkError:
        raise FertkError(f"{where}: run.device: must be auto, cpu, cuda or cuda:N "
                         f"(got {cfg.run.device!r})") from None
    folds = cfg.protocol.only_folds
    if folds is not None and not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0
                                     for i in folds):
        raise FertkError(f"{where}: protocol.only_folds: must be a list of fold numbers (from 0) "
                         f"or null (got {folds!r})")


def _check_section(obj: Any, prefix: str, where: str) -> None:
    for name, annotation in _fields(type(obj)):
        key, value = prefix + name, getattr(obj, name)
        if dataclasses.is_dataclass(value):
            _check_section(value, key + ".", where)
            continue
        try:
            new = _check(key, value, annotation)
        except Refused as exc:
            base = (_plain(annotation) or (None,))[0]
            raise FertkError(f"{where}: {key}: must be {expected(key, base, exc.expected)} "
                             f"(got {_show(value)})") from None
        if type(new) is not type(value):
            setattr(obj, name, new)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


__all__ = ["BOUNDS", "check_values"]
