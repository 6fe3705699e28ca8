"""Terminal tables that fit the terminal without breaking a word: the one rule of fertk's tables.

A cell breaks only at a space, or after a ``/`` (a path breaks between its folders, never
inside a file name); a ``no_wrap`` column (names people copy) breaks only after a ``/``;
headers and titles break at spaces only. The
narrowest table gives every column the width of its longest unbreakable piece. When even
that is wider than the terminal, the columns named in ``drop`` are left out, in that order,
until it fits (empty columns go first); the width left over goes first to the columns that
it makes one line per cell. Only when nothing more may be dropped and it still does not fit
does rich fold.

:func:`fit` decides (columns kept, their widths, each cell's lines); :func:`render` makes the
rich renderables; :func:`fertk.clitools.print_table` prints them. Nothing heavy is imported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Characters a rich table with a box and one space of padding adds: per column and once.
PER_COLUMN, PER_TABLE = 3, 1

_BREAKS = re.compile(r"[^ /]*/+|[^ /]+ *| +")
_PATH_BREAKS = re.compile(r"[^/]*/+|[^/]+")
_WORDS = re.compile(r"[^ ]+ *| +")


def _breaks(mode: str) -> re.Pattern[str]:
    return {"cell": _BREAKS, "path": _PATH_BREAKS, "words": _WORDS}[mode]


def pieces(text: str, mode: str = "cell") -> list[str]:
    """The unbreakable pieces of ``text`` (each line of it), separators kept. ``mode``:
    ``cell`` breaks at spaces and after ``/`` (``"a b/c"`` → ``["a ", "b/", "c"]``), ``path``
    only after ``/`` (a ``no_wrap`` column), ``words`` only at spaces (headers, titles)."""
    out: list[str] = []
    for line in str(text).split("\n"):
        out.extend(_breaks(mode).findall(line) or [""])
    return out


def min_width(text: str, mode: str = "cell") -> int:
    """The narrowest a cell can be: its longest piece (trailing spaces do not count)."""
    return max((len(p.rstrip(" ")) for p in pieces(text, mode)), default=0)


def wrap(text: str, width: int, mode: str = "cell") -> str:
    """``text`` in lines of at most ``width`` characters, broken only between pieces (see
    :func:`pieces`; a piece longer than ``width`` stays whole on its own line)."""
    lines: list[str] = []
    for raw in str(text).split("\n"):
        line = ""
        for piece in _breaks(mode).findall(raw):
            if line and len(line + piece.rstrip(" ")) > width:
                lines.append(line.rstrip(" "))
                line = piece.lstrip(" ")
            else:
                line += piece
        lines.append(line.rstrip(" "))
    return "\n".join(lines)


@dataclass
class Fit:
    """What :func:`fit` decided: the columns kept, their widths (without padding), the rows'
    cells wrapped to those widths, the header wrapped too, and the columns left out."""

    columns: list[str]
    widths: list[int]
    header: list[str]
    rows: list[list[str]]
    dropped: list[str]

    @property
    def width(self) -> int:
        return sum(self.widths) + PER_COLUMN * len(self.widths) + PER_TABLE


def fit(columns: Sequence[str], rows: Sequence[Sequence[Any]], width: int, *,
        no_wrap: Sequence[str] = (), drop: Sequence[str] = (), drop_empty: bool = True,
        keep: Sequence[str] = ()) -> Fit:
    """Fit ``rows`` under ``columns`` into ``width`` characters (see the module's rule).
    ``keep``: columns never left out even when empty (the first column always is kept)."""
    cols = list(columns)
    cells = [["" if v is None else str(v) for v in r] for r in rows]
    idx = list(range(len(cols)))
    dropped: list[str] = []
    if drop_empty:
        keep_always = {cols[0], *keep} if cols else set(keep)
        empty = [k for k in idx if cols[k] not in keep_always and not any(r[k] for r in cells)]
        dropped += [cols[k] for k in empty]
        idx = [k for k in idx if k not in empty]

    def mode(k: int) -> str:
        return "path" if cols[k] in no_wrap else "cell"

    def narrowest(k: int) -> int:
        return max([min_width(cols[k], "words")] + [min_width(r[k], mode(k)) for r in cells])

    def widest(k: int) -> int:
        return max(len(line) for text in [cols[k], *(r[k] for r in cells)] for line in text.split("\n"))

    def need(ks: list[int]) -> int:
        return sum(narrowest(k) + PER_COLUMN for k in ks) + PER_TABLE

    for name in drop:
        if need(idx) <= width:
            break
        if name in cols and cols.index(name) in idx:
            idx.remove(cols.index(name))
            dropped.append(name)
    widths = {k: narrowest(k) for k in idx}
    spare = width - need(idx)
    wants = {k: widest(k) - widths[k] for k in idx}
    # the spare width goes to the columns nearest to one line per cell first
    for k in sorted((j for j in idx if wants[j] > 0), key=lambda j: (wants[j], j)):
        give = min(wants[k], spare)
        widths[k] += give
        spare -= give
    final = [widths[k] for k in idx]
    return Fit(columns=[cols[k] for k in idx], widths=final,
               header=[wrap(cols[k], w, "words") for k, w in zip(idx, final, strict=True)],
               rows=[[wrap(r[k], w, mode(k)) for k, w in zip(idx, final, strict=True)]
                     for r in cells],
               dropped=dropped)


def render(title: str | None, fitted: Fit, *, right: Sequence[str] = (),
           console_width: int = 80) -> list[Any]:
    """The rich renderables of a fitted table: its title (a line of its own, wrapped like the
    cells) and the table, each column exactly as wide as :func:`fit` decided."""
    from rich.table import Table
    from rich.text import Text

    out: list[Any] = []
    if title:
        out.append(Text(wrap(title, max(console_width, 1), "words"), style="italic"))
    table = Table(show_header=True)
    for name, head, w in zip(fitted.columns, fitted.header, fitted.widths, strict=True):
        table.add_column(head, width=w, no_wrap=True, overflow="fold",
                         justify="right" if name in right else "left")
    for row in fitted.rows:
        table.add_row(*[Text(c) for c in row])
    out.append(table)
    return out


__all__ = ["Fit", "fit", "min_width", "pieces", "render", "wrap"]
