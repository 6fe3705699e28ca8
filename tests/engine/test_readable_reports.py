"""Reports that read well (issue #38 item 5): ``fertk compare`` prints its tables rendered for
the terminal (compare.md stays Markdown, one line per row, valid image links); pareto.png
labels each configuration once, frame and sequence told apart, without overlaps, and says
what the latencies are worth; the confusion matrix says what its colours are normalised by
and ``fertk eval`` titles it with spaces between the names. On a small generated FER2013
export, one epoch per run."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from click.testing import CliRunner

from fertk.cli import cli
from tests.data_sets.test_fer2013 import make_export

COMMON = {"preset": "default",
          "data": {"dataset": "fer2013", "crop": "box", "crop_options": {"margin": 0.25},
                   "workers": 1},
          "protocol": {"kind": "standard"},
          "frame": {"epochs": 1, "batch_size": 16, "warmup_epochs": 0,
                    "augment": {"illumination": "none", "test_illumination": "none"}},
          "run": {"progress": False}}
MODELS = {"tiny_frame_model_with_a_long_name": {"backbone": "compact_tiny",
                                                 "backbone_options": {"input_size": 48},
                                                 "temporal": None},
          "convnet": {"backbone": "example_convnet", "temporal": None}}


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cmp")
    root = make_export(tmp / "fer", per_class=(8, 4, 4))
    configs = []
    for name, model in MODELS.items():
        raw = json.loads(json.dumps(COMMON))
        raw["data"].update(root=str(root), cache_dir=str(tmp / "cache"))
        raw.update(name=name, model=model)
        configs.append(tmp / f"{name}.yaml")
        configs[-1].write_text(yaml.safe_dump(raw))
    out = tmp / "out"
    res = CliRunner().invoke(cli, ["compare", *map(str, configs), "--out", str(out),
                                   "--runs", str(tmp / "runs")], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    return {"out": out, "output": res.stdout, "root": root, "runs": tmp / "runs"}


def test_compare_prints_tables_that_fit_and_compare_md_stays_markdown(compared):
    text = compared["output"]
    lines = text.splitlines()
    assert max(len(ln) for ln in lines) <= 80, text
    assert not any(ln.startswith("|") for ln in lines), text  # not the Markdown file hard-wrapped
    assert "!(" not in text and "![" not in text
    rows = [ln for ln in lines if ln.startswith("│")]
    for name in MODELS:  # each config name whole, on the first line of its row
        assert any(re.search(rf"│ {name} +│", ln) for ln in rows), text
    assert "accuracy" in text and "compare.md" in text
    assert re.search(r"┃ bootstrap p +┃", text), text  # a header broken only between words
    md = (compared["out"] / "compare.md").read_text()
    table = [ln for ln in md.splitlines() if ln.startswith("|")]
    header = table[0].count(" | ")
    assert all(ln.endswith("|") for ln in table) and len(table) >= 4
    first = [ln for ln in table if ln.startswith("| config |")]
    assert first and all(ln.count("|") == first[0].count("|") for ln in table[: 2 + len(MODELS)])
    assert header > 10
    assert "![comparison](compare.png)" in md and (compared["out"] / "compare.png").is_file()
    assert "![accuracy against CPU latency](pareto.png)" in md
    assert (compared["out"] / "pareto.png").is_file()
    entry = json.loads((compared["out"] / "entries" / "convnet.json").read_text())
    low, high = entry["cost"]["latency_range_ms"]
    assert low <= entry["cost"]["latency_ms"] <= high


def _boxes(fig, texts):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [t.get_window_extent(renderer) for t in texts]


def test_pareto_labels_each_config_once_without_overlaps():
    from fertk.training.compare import latency_note
    from fertk.training.reports import pareto_figure

    names = ["compact", "compact", "tiny", "tiny", "dtan", "minix", "resnet18", "resnet18", "b0"]
    stages = ["frame", "sequence", "frame", "sequence", "frame", "frame", "frame", "sequence",
              "frame"]
    cost = [3.0, 3.0, 0.8, 0.8, 3.2, 2.5, 9.0, 9.0, 2.9]
    score = [0.65, 0.641, 0.625, 0.611, 0.60, 0.591, 0.66, 0.655, 0.63]
    rows = [{"load_average": load, "latency_range_ms": [c * 0.9, c * 1.3]}
            for load, c in zip([5.8, 6.1, 7.1, 6.0, 6.0, 6.2, 6.3, 6.4, 6.5], cost, strict=True)]
    note = latency_note(rows)
    assert "5.8 to 7.1" in note and "1.5x" in note and "90th-percentile" in note
    fig = pareto_figure(names, cost, score, [s - 0.01 for s in score], [s + 0.01 for s in score],
                        stages=stages, cost_range=[r["latency_range_ms"] for r in rows], note=note)
    ax = fig.axes[0]
    labels = [t for t in ax.texts if t.get_text()]
    assert sorted(t.get_text() for t in labels) == sorted(set(names))  # one label per config
    boxes = _boxes(fig, labels)
    for i, a in enumerate(boxes):
        assert not any(a.overlaps(b) for b in boxes[i + 1:]), [t.get_text() for t in labels]
        assert not a.overlaps(ax.get_legend().get_window_extent())
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "frame model" in legend and "sequence (temporal head)" in legend
    markers = {c.get_paths()[0].vertices.shape[0] for c in ax.collections
               if hasattr(c, "get_offsets") and len(c.get_offsets()) and c.get_label() in legend}
    assert len(markers) == 2  # two marker shapes
    assert any(note[:40] in t.get_text().replace("\n", " ") for t in fig.texts)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_confusion_colours_say_their_normalisation_and_eval_titles_have_spaces(compared,
                                                                                tmp_path):
    from fertk.training.reports import confusion_figure

    fig = confusion_figure([[3, 1], [0, 4]], ["anger", "happy"], title="t")
    assert "row-normalised" in fig.axes[1].get_ylabel() and "counts" in fig.axes[1].get_ylabel()
    import matplotlib.pyplot as plt

    plt.close(fig)
    ckpt = compared["runs"] / "convnet" / "folds" / "standard" / "frame"
    out = tmp_path / "eval"
    res = CliRunner().invoke(cli, ["eval", str(ckpt), "fer2013", "--root", str(compared["root"]),
                                   "--out", str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    title = (out / "frame.md").read_text().splitlines()[0]
    assert title.startswith("# standard/frame: frame model, n = "), title
    assert "frame frame" not in title and "(selection: " in title
