"""Helpers shared by CLI commands: registry-validated options, console, tables, JSON output."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from fertk.errors import FertkError


class ComponentType(click.ParamType):
    """A click parameter type whose values are names in one registry.

    Validation happens when the option is parsed, so ``--backbone compat`` fails before any
    work starts, with close matches. Shell completion offers the registered names.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self.name = kind.rstrip("s")

    def _registry(self):
        from fertk.plugins import get_registry

        return get_registry(self.kind)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if not isinstance(value, str):
            self.fail(f"expected a name, got {value!r}", param, ctx)
        try:
            self._registry().get(value)
        except FertkError as exc:
            self.fail(str(exc), param, ctx)
        return value

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        items = []
        for spec in self._registry():
            name = spec.name + ":" if spec.prefix else spec.name
            if name.startswith(incomplete):
                items.append(CompletionItem(name, help=spec.description))
        return items

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:  # click>=8.2
        return "NAME"


class DetectorChoice(ComponentType):
    """A registered detector, or ``dataset`` (landmarks shipped with the data) or ``none``
    (the whole image is the face): the detectors of ``prepare`` and ``eval``."""

    def __init__(self) -> None:
        super().__init__("detectors")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if value in ("dataset", "none"):
            return value
        return super().convert(value, param, ctx)


class EngineType(click.ParamType):
    """An engine: ``auto``, ``torch`` or a registered engine (``fertk list engines``:
    onnxruntime, channels_last, int8_dynamic, ... and plugins'), checked when parsed: the one
    rule of ``fertk run --engine`` and ``fertk models --engine``."""

    name = "engine"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from fertk.plugins import get_registry
        from fertk.registry import UnknownComponentError

        registry = get_registry("engines")
        if value in ("auto", "torch") or value in registry:
            return value
        self.fail(str(UnknownComponentError("engine", str(value),
                                            ["auto", "torch", *registry.names()])), param, ctx)

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        from fertk.plugins import get_registry

        names = ["auto", "torch", *get_registry("engines").names()]
        return [CompletionItem(n) for n in names if n.startswith(incomplete)]

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "NAME"


def component_option(*decls: str, kind: str, **kwargs: Any):
    """``@component_option("--backbone", kind="backbones", default="compact")``."""
    kwargs.setdefault("show_default", True)
    return click.option(*decls, type=ComponentType(kind), **kwargs)


class DeviceType(click.ParamType):
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (checked against the machine when used)."""

    name = "device"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from fertk.option_types import DEVICES, parse_device

        try:
            return parse_device(str(value))
        except FertkError:
            self.fail(f"'{value}': expected {DEVICES}", param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "auto|cpu|cuda[:N]"


class FiniteFloat(click.FloatRange):
    """``click.FloatRange`` that refuses ``nan`` and ``inf`` too (a range check lets ``nan``
    through: every comparison with it is false)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        import math

        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def device_option(**kwargs: Any):
    """``--device auto|cpu|cuda[:N]`` (auto: CUDA when available, else the CPU)."""
    kwargs.setdefault("default", "auto")
    kwargs.setdefault("show_default", True)
    kwargs.setdefault("help", "Where the model runs: auto (CUDA when available), cpu, cuda, cuda:N.")
    return click.option("--device", type=DeviceType(), **kwargs)


# -- options shared by commands: one spelling and one meaning per concept (README's table) ----
class AliasOption(click.Option):
    """An option whose ``hidden_aliases`` (old spellings kept for scripts) work but are not
    shown in ``--help``."""

    def __init__(self, *args: Any, hidden_aliases: tuple[str, ...] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.hidden_aliases = tuple(hidden_aliases)

    def get_help_record(self, ctx: click.Context):
        shown = [o for o in self.opts if o not in self.hidden_aliases]
        opts, self.opts = self.opts, shown
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = opts


def stride_option(dest: str = "stride", aliases: tuple[str, ...] = ()):
    """``--stride N``: process every N-th frame of videos and image sequences."""
    return click.option("--stride", *aliases, dest, cls=AliasOption, hidden_aliases=aliases,
                        type=click.IntRange(min=1), default=1, show_default=True,
                        help="Videos: process every N-th frame only.")


def detector_options_option(dest: str = "detector_opts"):
    """``-D/--detector-option KEY=VALUE`` (repeatable)."""
    return click.option("-D", "--detector-option", dest, multiple=True, metavar="KEY=VALUE",
                        help="Detector option, repeatable (e.g. -D upsample=0 -D max_side=640).")


def crop_options_option(dest: str = "crop_opts"):
    """``-C/--crop-option KEY=VALUE`` (repeatable)."""
    return click.option("-C", "--crop-option", dest, multiple=True, metavar="KEY=VALUE",
                        help="Crop option, repeatable (e.g. -C alpha=1.2 -C border=replicate).")


def dataset_options_option(dest: str = "options", example: str = "-o mode=peak"):
    """``-o/--option KEY=VALUE`` (repeatable): options of the data set."""
    return click.option("-o", "--option", dest, multiple=True, metavar="KEY=VALUE",
                        help=f"Data set option, repeatable (e.g. {example}).")


def json_option(dest: str = "as_json", help: str = "Print the results as JSON on stdout."):
    """``--json``: a flag everywhere, JSON on stdout (``detect --json FILE`` also writes a
    file: see :func:`json_file_option`)."""
    return click.option("--json", dest, is_flag=True, help=help)


def json_file_option(dest: str = "json_path", help: str = "Print JSON records on stdout "
                     "(--json) or write them to FILE (--json FILE)."):
    """``--json [FILE]``: JSON on stdout as a flag, into FILE with a value."""
    return click.option("--json", dest, is_flag=False, flag_value="-", default=None,
                        metavar="[FILE]", type=click.Path(dir_okay=False), help=help)


def recursive_option():
    """``-r/--recursive``: folders include their sub-folders."""
    return click.option("-r", "--recursive", is_flag=True,
                        help="Folders: include the images and videos of sub-folders.")


#: Default of every ``--workers`` option (parallel processes).
DEFAULT_WORKERS = 1


def workers_option(help: str = "Parallel worker processes."):
    """``--workers N`` with the one default (:data:`DEFAULT_WORKERS`)."""
    return click.option("--workers", type=click.IntRange(1, 64), default=DEFAULT_WORKERS,
                        show_default=True, help=help)


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def progress_bar(*extra_columns: Any, description: str = "{task.description}",
                 bar_width: int | None = 40, remaining: bool = False, console_: Any = None,
                 **kwargs: Any):
    """A rich progress bar on stderr: description, bar, done/total, ``extra_columns``
    (rich columns or ``TextColumn`` format strings), elapsed and, with ``remaining``, the
    estimated time left. ``kwargs`` go to ``rich.progress.Progress`` (``transient``,
    ``disable``). The one place commands and engines build their progress displays.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns: list[Any] = [TextColumn(description), BarColumn(bar_width=bar_width),
                          MofNCompleteColumn()]
    columns += [TextColumn(c) if isinstance(c, str) else c for c in extra_columns]
    columns.append(TimeElapsedColumn())
    if remaining:
        columns.append(TimeRemainingColumn())
    return Progress(*columns, console=console_ or console(stderr=True), **kwargs)


def parse_options(pairs: tuple[str, ...] | list[str], flag: str,
                  example: str = "upsample=0") -> dict[str, Any]:
    """``("upsample=0", "model=cnn")`` → ``{"upsample": 0, "model": "cnn"}``: the values of a
    repeatable ``KEY=VALUE`` option such as ``--detector-option``. The one ``KEY=VALUE``
    parser of fertk: ``train --set`` (:func:`fertk.training.config.parse_override`) uses it too.

    Values are YAML scalars (``0``, ``1.2``, ``1e-3``, ``true``/``yes``, ``[a, b]``: read by
    :func:`fertk.yamlio.load`); a value that is not
    valid YAML (``[``) stays text, so the component it is given to names it if it cannot use it.
    Dashes in keys become underscores (``min-size`` → ``min_size``).
    """
    import yaml

    from fertk import yamlio

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise FertkError(f"{flag} '{pair}': expected KEY=VALUE, e.g. {flag} {example}")
        try:
            out[key] = yamlio.load(value) if value.strip() else ""
        except yaml.YAMLError:  # not YAML: keep the text as typed
            out[key] = value
        except yamlio.AliasLimitError as exc:
            raise FertkError(f"{flag} '{key}': {exc}") from None
    return out


def print_json(data: Any) -> None:
    from fertk.fsutil import json_default

    click.echo(json.dumps(data, indent=2, default=json_default))


def print_table(title: str, columns: list[str], rows: list[list[Any]],
                no_wrap: tuple[str, ...] = (), *, drop: tuple[str, ...] = (),
                right: tuple[str, ...] = (), drop_empty: bool = False,
                console_: Any = None) -> list[str]:
    """A table on stdout (or ``console_``) that fits the terminal without breaking a word
    (:mod:`fertk.clitable`): cells break at spaces and after ``/``, ``no_wrap`` columns (names
    people copy) only after ``/``; the ``drop`` columns are left out, in that order, while it
    does not fit; ``right``: right-aligned columns (numbers). Returns the columns left out."""
    from fertk.clitable import fit, render

    con = console_ or console()
    fitted = fit(columns, rows, con.width, no_wrap=no_wrap, drop=drop, drop_empty=drop_empty)
    for part in render(title, fitted, right=right, console_width=con.width):
        con.print(part)
    return fitted.dropped


def fail(message: str) -> None:
    """Raise a one-line user error."""
    raise FertkError(message)


def is_tty() -> bool:
    return sys.stderr.isatty()
