"""The "which model for what" table of docs/weights.md, generated from the weight registry.

    python tools/weights_table.py              # Markdown on stdout: every registered model
    python tools/weights_table.py --bundled    # only the bundled ones (what the docs list)

One row per model: what it is for (the default; the most accurate on each data set; the
fastest; the smallest; the one with classes the others lack; a reference imported as its
authors trained it), its accuracy on every data set any model was measured on (columns found in the metadata,
:func:`fertk.weights.card.model_card`), its temporal head's accuracy, parameters, CPU ms per
face, end-to-end fps with its detector and input size (a column no model has a value for is
left out). Run it after new weights are bundled
(and measured: ``benchmarks/bench_fer2013.py --write``, ``benchmarks/bench_ferplus.py
--write``) and paste the output at the top of docs/weights.md.
"""

from __future__ import annotations

import argparse
from typing import Any

from fertk.weights.card import datasets, number, percent


def uses(cards: dict[str, dict[str, Any]], default: str,
         classes: dict[str, list[str]], reported_by_authors: set[str]) -> dict[str, list[str]]:
    """``{name: [what it is for, ...]}`` from the cards alone (the rules are the table's
    footnote): the default, the most accurate on each data set, the fastest, the smallest,
    classes the others lack, the temporal head, imported references."""
    out: dict[str, list[str]] = {n: [] for n in cards}
    if default in out:
        out[default].append("the default (`fertk run` without `--weights`)")
    for d in datasets(list(cards.values())):
        scored = {n: c["accuracy"][d]["accuracy"] for n, c in cards.items() if d in c["accuracy"]}
        if len(scored) > 1:
            best = max(scored.values())
            for n in sorted(n for n, v in scored.items() if v == best):
                out[n].append(f"the most accurate on {d}")
    timed = {n: c["ms_per_face"] for n, c in cards.items() if c.get("ms_per_face") is not None}
    if len(timed) > 1:
        fastest = min(timed.values())
        for n in sorted(n for n, v in timed.items() if v == fastest):
            out[n].append("the fastest (many faces, small CPUs)")
    sized = {n: c["params"] for n, c in cards.items() if c.get("params") is not None}
    if len(sized) > 1:
        for n in sorted(n for n, v in sized.items() if v == min(sized.values())):
            out[n].append("the smallest")
    common = set.intersection(*(set(c) for c in classes.values())) if classes else set()
    for n, names in classes.items():
        extra = [c for c in names if c not in common]
        if extra and len(classes) > 1:
            out[n].append("also " + ", ".join(extra))
    for n, c in cards.items():
        if c.get("head"):
            head = c["head"]["head"]
            out[n].append(f"video: its {head} head with `--temporal {head}`")
        if n in reported_by_authors:
            out[n].append("a reference, imported as its authors trained it")
    return out


def table(entries: list[tuple[str, Any]], default: str) -> str:
    """The Markdown table (and its footnote) of ``(name, registry metadata)`` entries."""
    from fertk.weights.accuracy import accuracy_summary
    from fertk.weights.card import card_of

    cards = {n: card_of(m) for n, m in entries}
    sets = datasets(list(cards.values()))
    splits = {d: sorted({c["accuracy"][d]["split"] for c in cards.values() if d in c["accuracy"]})
              for d in sets}
    authors = {n for n, m in entries
               if ((m.get("accuracy") or accuracy_summary(m))["reported"] or {}).get("by") == "authors"}
    use = uses(cards, default, {n: list(m.get("classes") or []) for n, m in entries}, authors)
    heads = {c["head"]["head"] for c in cards.values() if c.get("head")}
    head_col = f"{next(iter(heads)).upper()} %" if len(heads) == 1 else "temporal head %"
    cols = ["model", "use it for", *[f"{d} %" for d in sets], head_col, "parameters",
            "CPU ms / face", "fps end to end", "input"]
    order = sorted(cards, key=lambda n: (n != default, *[-(cards[n]["accuracy"].get(d) or {})
                                                          .get("accuracy", -1) for d in sets], n))
    rows = []
    for n in order:
        c = cards[n]
        acc = [percent((c["accuracy"].get(d) or {}).get("accuracy")) for d in sets]
        head = percent(c["head"]["accuracy"]) if c.get("head") else ""
        fps = "" if c.get("fps") is None else f"{c['fps']:.0f}" + (
            f" ({c['fps_detector']})" if c.get("fps_detector") else "")
        size = c.get("input")
        cells = [f"`{n}`", "; ".join(use[n]) or "", *acc, head,
                 number(c.get("params"), "{:,.0f}"), number(c.get("ms_per_face"), "{:.2f}"),
                 fps, "×".join(map(str, size)) if size else ""]
        rows.append(cells)
    kept = [k for k, col in enumerate(cols) if k < 2 or any(r[k] for r in rows)]  # no empty column
    lines = ["| " + " | ".join(cols[k] for k in kept) + " |", "|" + "|".join("---" for _ in kept) + "|"]
    lines += ["| " + " | ".join(r[k] for k in kept) + " |" for r in rows]
    measured = "; ".join(f"{d}: {', '.join(splits[d])}" for d in sets)
    note = (f"Accuracy measured by fertk on each data set's test split ({measured}), single centre "
            f"crop; {head_col}: the temporal head on sequences of the same split (tracks of its "
            "images for still-image data sets); CPU ms per face: batch 1, 2 cores; fps end to "
            "end: `fertk run` with the detector named, decoding and outputs included. Generated "
            "by `python tools/weights_table.py` from the weights' metadata (`fertk weights info "
            "NAME --json`).")
    return "\n".join(lines) + "\n\n" + note


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundled", action="store_true", help="only the bundled weights")
    args = ap.parse_args(argv)
    from fertk.plugins import get_registry
    from fertk.weights import DEFAULT_WEIGHTS

    entries = [(s.name, s.metadata) for s in get_registry("weights")
               if not args.bundled or s.metadata.get("origin") == "bundled"]
    print(table(entries, DEFAULT_WEIGHTS))


if __name__ == "__main__":
    main()
