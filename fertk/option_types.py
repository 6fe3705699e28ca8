"""Option values checked against their declared types: the one rule for every component.

:meth:`fertk.registry.Registry.create` passes the options of every component it builds
(``-D``/``-C`` on the command line, ``detector_options=`` in Python, a checkpoint's recorded
options) through :func:`check_options`. An option's declared type is the annotation of the
factory's keyword parameter or, for a factory that takes ``**options`` and says what it
returns (``def build_dlib(**options) -> DlibDetector``), of that class's ``__init__`` and of
the base classes it forwards ``**options`` to.

The rules, for the types that can be checked (others pass unchanged):

- ``bool``: ``true``/``false``, ``yes``/``no``, ``1``/``0`` (any case), nothing else
  (``largest=maybe`` is refused, not read as true);
- ``int``: an integer (``2.0`` is 2; ``true`` and ``2.5`` are refused);
- ``float``: a finite number (``nan`` and ``inf`` are refused);
- ``str``: text (a number is taken as its text; a mapping or list is refused);
- ``X | None``: ``None`` too; a union takes the first member that accepts the value, and a
  member that cannot be checked (``tuple[int, int]``) lets any other value through.

A value that breaks the rules is one :class:`~fertk.errors.FertkError` naming the component,
the option, the value and what it must be.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fertk.errors import FertkError

_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0")
_SKIP = object()  # "this annotation cannot be checked"


class _Refused(Exception):
    def __init__(self, expected: str):
        super().__init__(expected)
        self.expected = expected


#: The public name of the refusal :func:`convert` and :func:`checked` raise (``.expected``:
#: what the value must be, e.g. ``"an integer in [1, 1000]"``).
Refused = _Refused


@dataclass(frozen=True)
class Range:
    """The values a number may take: ``lo``/``hi`` (None: unbounded), each end closed unless
    ``lo_open``/``hi_open``. ``str(Range(0, 1, hi_open=True))`` is ``[0, 1)``."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def __contains__(self, value: Any) -> bool:
        v = float(value)
        if self.lo is not None and (v < self.lo or (self.lo_open and v == self.lo)):
            return False
        return not (self.hi is not None and (v > self.hi or (self.hi_open and v == self.hi)))

    def __str__(self) -> str:
        if self.hi is None:
            return f"{'>' if self.lo_open else '>='} {_num(self.lo)}"
        if self.lo is None:
            return f"{'<' if self.hi_open else '<='} {_num(self.hi)}"
        return (f"{'(' if self.lo_open else '['}{_num(self.lo)}, {_num(self.hi)}"
                f"{')' if self.hi_open else ']'}")


def _num(v: float | None) -> str:
    return f"{v:,}" if isinstance(v, int) and abs(v) >= 10_000 else f"{v:g}"


def checked(value: Any, annotation: Any, bounds: Range | None = None) -> Any:
    """``value`` converted to ``annotation`` (:func:`convert`) and, when it is a number, inside
    ``bounds``; :data:`Refused` (``.expected``: ``"a number in (0, 10]"``) otherwise."""
    out = convert(value, annotation)
    if bounds is not None and out is not None and isinstance(out, numbers.Real) \
            and not isinstance(out, bool) and out not in bounds:
        kind = "an integer" if annotation is int or isinstance(out, numbers.Integral) else "a number"
        raise _Refused(f"{kind} in {bounds}" if bounds.lo is not None and bounds.hi is not None
                       else f"{kind} {bounds}")
    return out


#: The devices fertk runs on: the one spelling of ``--device``, ``run.device`` and ``Pipeline(device=)``.
DEVICES = "auto, cpu, cuda or cuda:N"


def parse_device(value: Any, label: str = "device") -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (lower case); one :class:`FertkError` naming
    ``label`` otherwise (``tpu``, ``cuda:x``, a number)."""
    if type(value).__name__ == "device" and hasattr(value, "type"):  # a torch.device
        value = str(value)
    text = value.strip().lower() if isinstance(value, str) else ""
    head, _, index = text.partition(":")
    if text in ("auto", "cpu", "cuda") or (head == "cuda" and index.isdigit()):
        return text
    raise FertkError(f"{label} {value!r}: expected {DEVICES}")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral) and int(value) in (0, 1):
        return bool(int(value))
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise _Refused("true or false (or yes/no, 1/0)")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise _Refused("an integer")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and math.isfinite(float(value)) and float(value).is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _Refused("an integer")


def _to_float(value: Any) -> float:
    number: float | None = None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None:
        raise _Refused("a number")
    if not math.isfinite(number):
        raise _Refused("a finite number")
    return number


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return str(value)
    raise _Refused("text")


_CONVERTERS: dict[Any, Callable[[Any], Any]] = {bool: _to_bool, int: _to_int, float: _to_float,
                                                str: _to_str}


def convert(value: Any, annotation: Any) -> Any:
    """``value`` converted to ``annotation`` (see the module's rules); :class:`_Refused` if it
    breaks them, ``value`` unchanged when the annotation cannot be checked."""
    if annotation in _CONVERTERS:
        return _CONVERTERS[annotation](value)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        if value is None and type(None) in members:
            return None
        expected, unchecked = [], False
        for member in members:
            if member is type(None):
                continue
            if member not in _CONVERTERS:
                unchecked = True
                continue
            try:
                return _CONVERTERS[member](value)
            except _Refused as exc:
                expected.append(exc.expected)
        if unchecked:
            return value
        if type(None) in members:
            expected.append("null")
        raise _Refused(" or ".join(dict.fromkeys(expected)))
    return value


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """Resolved annotations of ``fn``, one by one (an unresolvable one is left out)."""
    raw = getattr(fn, "__annotations__", None) or {}
    try:
        return typing.get_type_hints(fn)
    except Exception:  # one name only known to type checkers: resolve the others alone
        ns = getattr(fn, "__globals__", {})
        out = {}
        for key, ann in raw.items():
            try:
                out[key] = eval(ann, ns) if isinstance(ann, str) else ann  # noqa: S307
            except Exception:
                continue
        return out


def _params(fn: Callable[..., Any]) -> tuple[list[str], dict[str, Any], bool]:
    """Keyword parameter names, their annotations and whether ``fn`` takes ``**kwargs``."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return [], {}, True
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [p.name for p in params if p.kind in kinds and p.name != "self"]
    hints = _hints(fn)
    return (names, hints, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params))


@functools.lru_cache(maxsize=256)
def declared_types(factory: Callable[..., Any]) -> dict[str, Any]:
    """Option name → declared type of the options ``factory`` takes (see the module)."""
    out: dict[str, Any] = {}
    todo: list[Any] = [factory]
    while todo:
        target = todo.pop(0)
        if inspect.isclass(target):
            for klass in target.__mro__:
                init = vars(klass).get("__init__")
                if init is None or klass is object:
                    continue
                names, hints, more = _params(init)
                for n in names:
                    out.setdefault(n, hints.get(n, _SKIP))
                if not more:
                    break
            continue
        names, hints, more = _params(target)
        for n in names:
            out.setdefault(n, hints.get(n, _SKIP))
        returned = hints.get("return")
        if more and inspect.isclass(returned):
            todo.append(returned)
    return {k: v for k, v in out.items() if v is not _SKIP}


def check_options(label: str, name: str, factory: Callable[..., Any],
                  options: dict[str, Any], accepted: str = "") -> dict[str, Any]:
    """``options`` with each value converted to its declared type; one :class:`FertkError`
    (``detector 'dlib': option largest='maybe' must be true or false ...``, then
    ``accepted``, e.g. ``; accepted options: model, upsample``) otherwise."""
    try:
        declared = declared_types(factory)
    except TypeError:  # an unhashable callable: check it uncached
        declared = declared_types.__wrapped__(factory)
    out = dict(options)
    for key, value in options.items():
        if key not in declared:
            continue  # unknown options: the factory refuses them (Registry._option_error)
        try:
            out[key] = convert(value, declared[key])
        except _Refused as exc:
            raise FertkError(f"{label} '{name}': option {key}={_show(value)} must be "
                             f"{exc.expected}{accepted}") from None
    return out


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, float) else f"{value:g}"
    return text if len(text) <= 40 else text[:37] + "..."


__all__ = ["DEVICES", "Range", "Refused", "check_options", "checked", "convert", "declared_types",
           "parse_device"]
