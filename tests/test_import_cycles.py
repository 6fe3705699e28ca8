"""No import cycle among fertk's modules: the dependency graph of every import statement.

Lazy imports inside functions count too (they are dependencies; ``pipeline`` and ``export``
once imported each other that way). ``from fertk.a import b`` is an edge to ``fertk.a.b`` when
that is a module, else to ``fertk.a``. The package root ``fertk`` counts like any module, and
the modules its lazy names (``fertk.Pipeline``, ``fertk.analyze`` …) import on first use are
its imports too: a module that reaches back into the facade (``import fertk`` to find
``fertk.Pipeline``, ``from fertk import __version__``) below it is a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import fertk

ROOT = Path(fertk.__file__).resolve().parent


def module_names(root: Path, package: str) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([package, *parts])] = path
    return out


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module → the modules it imports (anywhere in it); the package root also imports the
    modules named by string constants in it (its lazy attributes)."""
    modules = module_names(root, package)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name in graph:
        path = modules[name]
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if name == package and isinstance(node, ast.Constant) and node.value in modules:
                graph[name].add(node.value)  # the facade's lazy table: imported on first use
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:  # relative import
                    anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            graph[name].update(t for t in targets if t in graph and t != name)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_fertk_has_no_import_cycle():
    graph = import_graph(ROOT, "fertk")
    assert "fertk.pipeline" in graph and "fertk.inference.model" in graph
    assert {"fertk.plugins", "fertk.pipeline"} <= graph["fertk"]  # the root and its lazy names
    assert find_cycles(graph) == []


def test_python_api_sits_above_the_pipeline():
    """``fertk.api`` is a facade over the pipeline (analyze lives with Pipeline); the pipeline
    does not climb back up to it, nor to the package root."""
    graph = import_graph(ROOT, "fertk")
    assert "fertk.pipeline" in graph["fertk.api"]
    assert not {"fertk.api", "fertk"} & graph["fertk.pipeline"]


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_run_outputs_draw_downwards():
    """The files of a run are drawn by fertk.draw directly: the run path (jobs → outputs)
    does not climb back up through the Python plots (plots → draw → io.images)."""
    graph = import_graph(ROOT, "fertk")
    assert "fertk.draw" in graph["fertk.io.outputs"] and "fertk.draw" in graph["fertk.plots"]
    below = reachable(graph, "fertk.io.outputs") | reachable(graph, "fertk.io.preview")
    assert "fertk.plots" not in below and "fertk.pipeline" not in below
    assert "fertk.plots" not in reachable(graph, "fertk.draw")


def test_inference_layer_direction():
    """pipeline → inference ← export; inference imports neither of them."""
    graph = import_graph(ROOT, "fertk")
    assert "fertk.inference" in graph["fertk.pipeline"]
    assert "fertk.inference.onnx" in graph["fertk.export"]
    inference = [m for m in graph if m.startswith("fertk.inference")]
    assert all(not ({"fertk.pipeline", "fertk.export"} & graph[m]) for m in inference)


def test_checker_finds_a_cycle(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("import pkg\nfrom pkg.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("try:\n    from .. import c\nexcept ImportError:\n    pass\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text("from pkg import c\n")
    (pkg / "e.py").write_text("def lazy():\n    from pkg.d import x\n")
    (pkg / "f.py").write_text("from pkg import e\n")
    graph = import_graph(pkg, "pkg")
    assert graph["pkg.a"] == {"pkg", "pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.c"}
    assert graph["pkg.e"] == {"pkg.d"} and graph["pkg.d"] == {"pkg.c"}
    assert find_cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]
    (pkg / "c.py").write_text("def lazy():\n    from pkg.f import y\n")  # c → f → e → d → c
    assert find_cycles(import_graph(pkg, "pkg")) == [["pkg.c", "pkg.d", "pkg.e", "pkg.f"]]
    # the root's lazy names are its imports: a module that goes back to the root closes a cycle
    (pkg / "__init__.py").write_text('_LAZY = {"G": "pkg.g"}\n')
    (pkg / "g.py").write_text("def lazy():\n    import pkg\n")
    assert ["pkg", "pkg.g"] in find_cycles(import_graph(pkg, "pkg"))
